"""The result of an evaluation (a scores table) or an optimization (what changed, as a diff)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (QDialog, QLabel, QPlainTextEdit, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout)

from studio.api import read_events


class ResultView(QDialog):
    def __init__(self, editor, run_dir: Path, kind: str, status: dict[str, Any]):
        super().__init__(editor)
        self.editor, self.run_dir = editor, run_dir
        self.setWindowTitle(f"{'Evaluation' if kind == 'eval' else 'Optimization'} — {run_dir.name}")
        self.resize(900, 560)
        layout = QVBoxLayout(self)
        self.summary = QLabel(wordWrap=True, objectName="summary")
        layout.addWidget(self.summary)
        self.saved: Path | None = None
        if status.get("status") != "succeeded":
            self.summary.setText(f"{status.get('status')}: {status.get('error', '')} (the run folder is {run_dir})")
            return
        if kind == "eval":
            self._evaluation(layout)
        else:
            self._optimization(layout)

    def _evaluation(self, layout) -> None:
        summary = json.loads((self.run_dir / "summary.json").read_text())
        self.summary.setText(f"Score {summary['score']:.3f} on {summary['examples']} examples · "
                             f"{summary['failures']} failed" + (f" · {summary['resumed']} resumed"
                                                                if summary.get("resumed") else ""))
        rows = sorted(read_events(self.run_dir / "results.jsonl"), key=lambda r: r.get("index", 0))
        self.table = QTableWidget(len(rows), 5, objectName="scores")
        self.table.setHorizontalHeaderLabels(["inputs", "labels", "outputs", "score", "error"])
        for i, row in enumerate(rows):
            for j, key in enumerate(("inputs", "labels", "outputs", "score", "error")):
                value = row.get(key, "")
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        layout.addWidget(self.table, 1)

    def _optimization(self, layout) -> None:
        report = json.loads((self.run_dir / "report.json").read_text())
        self.saved = Path(report["saved"])
        before, after = report.get("score_before"), report.get("score_after")
        scores = f" · score {before:.3f} → {after:.3f}" if before is not None and after is not None else ""
        self.summary.setText(f"{report['optimizer']}: {len(report['changes'])} predictors changed{scores} · saved as "
                             f"{self.saved.name}" + (f" · stopped: {report['stopped']}" if report.get("stopped") else ""))
        self.diff = QPlainTextEdit(objectName="diff", readOnly=True)
        self.diff.setPlainText((self.run_dir / "changes.diff").read_text() or "(no changes)")
        layout.addWidget(self.diff, 1)
        open_button = QPushButton(f"Open {self.saved.name}")
        open_button.clicked.connect(lambda: (self.editor.open_path(self.saved), self.accept()))
        layout.addWidget(open_button)
