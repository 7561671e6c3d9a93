"""The result of an evaluation (a scores table) or an optimization (what changed, as a diff).

An evaluation with errors (examples that could not be judged: a model call failed for
good) ends as a failed job, yet its scores table is shown: the score over the examples
that were scored, the error count beside it, and the errored rows first, marked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from studio.api import JobOutcome, RunStatus, read_records
from studio.widgets import tone

MAX_COLUMN_WIDTH = 260  # pixels; the full text is in the tooltip and the detail box


class ResultView(QDialog):
    def __init__(self, editor, run_dir: Path, kind: str, outcome: JobOutcome):
        super().__init__(editor)
        self.editor, self.run_dir = editor, run_dir
        self.setWindowTitle(f"{'Evaluation' if kind == 'eval' else 'Optimization'} — {run_dir.name}")
        self.resize(900, 560)
        layout = QVBoxLayout(self)
        self.summary = QLabel(wordWrap=True, objectName="summary")
        # a long unbreakable word (a URL, a path) must not widen the window past the screen
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)
        self.saved: Path | None = None
        if kind == "eval" and (run_dir / "summary.json").exists():  # also when failed for errors
            self._evaluation(layout)
        elif outcome.status != RunStatus.SUCCEEDED:
            self.summary.setText(f"{outcome.status}: {outcome.error or ''} (the run folder is {run_dir})")
        elif kind != "eval":
            self._optimization(layout)

    def _evaluation(self, layout) -> None:
        summary = json.loads((self.run_dir / "summary.json").read_text())
        self.summary.setText(summary_text(summary, self.run_dir))
        self.summary.setToolTip(self.summary.text())
        self.rows = sorted(
            read_records(self.run_dir / "results.jsonl"), key=lambda r: (r.get("status") != "error", r.get("index", 0))
        )
        columns = ("status", "inputs", "labels", "outputs", "score", "error")
        self.table = QTableWidget(len(self.rows), len(columns), objectName="scores")
        self.table.setHorizontalHeaderLabels(list(columns))
        # left-aligned headers: a centred one sits off screen when its column is wider than the window
        self.table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        for i, row in enumerate(self.rows):
            errored = row.get("status") == "error"
            for j, key in enumerate(columns):
                value = row.get(key, "")
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                item = QTableWidgetItem("not scored" if key == "score" and errored else text)
                if key in ("inputs", "labels", "outputs", "error") and text:
                    item.setToolTip(text)  # the whole text, however narrow the column
                if errored:
                    item.setForeground(tone("error", self.palette()))  # readable in either theme
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        for j in range(len(columns) - 1):  # a long cell must not push the error column out of the window
            self.table.setColumnWidth(j, min(self.table.columnWidth(j), MAX_COLUMN_WIDTH))
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(len(columns) - 1, MAX_COLUMN_WIDTH)
        layout.addWidget(self.table, 1)
        # the selected row's whole error (and outputs), readable and copyable
        self.detail = QPlainTextEdit(
            objectName="detail", readOnly=True, placeholderText="Select a row to read its error and outputs in full."
        )
        self.detail.setMaximumHeight(120)
        layout.addWidget(self.detail)
        self.table.itemSelectionChanged.connect(self._show_detail)
        if self.rows:
            self.table.selectRow(0)
        self.retry: QPushButton | None = None
        if summary.get("errors") and self.editor is not None:
            params = (
                json.loads((self.run_dir / "params.json").read_text())
                if (self.run_dir / "params.json").exists()
                else {}
            )
            count = summary["errors"]
            self.retry = QPushButton(
                f"Retry the {count} errored example{'' if count == 1 else 's'}", objectName="retry"
            )

            def retry() -> None:
                self.editor.evaluate(
                    params.get("data", ""),
                    params.get("metric", "exact_match"),
                    params.get("model", ""),
                    resume=str(self.run_dir),
                    api_base=params.get("api_base", ""),
                )
                self.accept()

            self.retry.clicked.connect(retry)
            layout.addWidget(self.retry)

    def _show_detail(self) -> None:
        selected = self.table.selectionModel().selectedRows()
        if not selected:
            self.detail.setPlainText("")
            return
        row = self.rows[selected[0].row()]
        parts = [f"example {row.get('index', '?')}: {row.get('status', '')}"]
        if row.get("error"):
            parts.append(f"error: {row['error']}")
        if row.get("outputs") is not None:
            parts.append(f"outputs: {json.dumps(row['outputs'], ensure_ascii=False)}")
        self.detail.setPlainText("\n".join(parts))

    def _optimization(self, layout) -> None:
        report = json.loads((self.run_dir / "report.json").read_text())
        self.saved = Path(report["saved"])
        before, after = report.get("score_before"), report.get("score_after")
        scores = f" · score {before:.3f} → {after:.3f}" if before is not None and after is not None else ""
        self.summary.setText(
            f"{report['optimizer']}: {len(report['changes'])} predictors changed{scores} · saved as "
            f"{self.saved.name}" + (f" · stopped: {report['stopped']}" if report.get("stopped") else "")
        )
        self.diff = QPlainTextEdit(objectName="diff", readOnly=True)
        self.diff.setPlainText((self.run_dir / "changes.diff").read_text() or "(no changes)")
        layout.addWidget(self.diff, 1)
        open_button = QPushButton(f"Open {self.saved.name}")

        def open_saved() -> None:
            self.editor.open_path(self.saved)
            self.accept()

        open_button.clicked.connect(open_saved)
        layout.addWidget(open_button)


def summary_text(summary: dict[str, Any], run_dir: Path) -> str:
    """The score over the scored examples, with the errors beside it, never inside it."""
    score = summary.get("score")
    scored, total = summary.get("scored", summary.get("examples", 0)), summary.get("examples", 0)
    text = (
        f"Score {score:.3f} over {scored} of {total} examples"
        if score is not None
        else f"No score: none of the {total} examples was scored"
    )
    if summary.get("unparsed"):
        text += f" ({summary['unparsed']} unreadable replies scored 0)"
    if summary.get("errors"):
        text += (
            f" · {summary['errors']} errored, not scored (first: {summary.get('first_error', '?')}); "
            f"retrying them keeps the scored ones ({run_dir.name})"
        )
    if summary.get("resumed"):
        text += f" · {summary['resumed']} resumed"
    if summary.get("not_run"):
        text += f" · {summary['not_run']} not run" + (f": {summary['stopped']}" if summary.get("stopped") else "")
    return text
