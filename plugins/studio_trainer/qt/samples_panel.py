"""The Samples panel: text generated during training (and by Generate), newest first."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QPlainTextEdit, QSplitter, QVBoxLayout, QWidget

from studio.api import read_events


class SamplesPanel(QWidget):
    def __init__(self, ctx, parent=None):
        super().__init__(parent)
        self.ctx = ctx
        layout = QVBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.list = QListWidget(objectName="trainer:samples-list")
        self.text = QPlainTextEdit(readOnly=True, objectName="trainer:sample-text")
        self.text.setFont(QFont("monospace"))
        split.addWidget(self.list)
        split.addWidget(self.text)
        split.setSizes([160, 480])
        layout.addWidget(split)
        self.list.currentItemChanged.connect(self._show)

    def handle_events(self, run_id: str, events: list[dict]) -> None:
        for event in events:
            if event.get("kind") == "span" and event.get("span_kind") == "sample":
                self.add(run_id, event)

    def add(self, run_id: str, span: dict) -> None:
        step = span.get("step")
        label = f"{run_id[-12:]} · step {step}" if step is not None else f"{run_id[-12:]} · {span.get('name', '')}"
        item = QListWidgetItem(label)
        item.setData(Qt.ItemDataRole.UserRole, span)
        self.list.insertItem(0, item)
        if self.list.currentRow() <= 0:
            self.list.setCurrentRow(0)

    def _show(self, item: QListWidgetItem | None) -> None:
        if item is None:
            self.text.clear()
            return
        span = item.data(Qt.ItemDataRole.UserRole)
        prompt = span.get("inputs", {}).get("prompt", "")
        params = ", ".join(f"{k} {v}" for k, v in (span.get("params") or {}).items())
        self.text.setPlainText(f"[{params}]\n{prompt}{span.get('outputs', {}).get('text', '')}")

    def open_path(self, path: Path) -> None:
        """Load the samples recorded in a run folder."""
        for event in read_events(Path(path) / "events.jsonl"):
            if event.get("kind") == "span" and event.get("span_kind") == "sample":
                self.add(Path(path).name, event)


def create(ctx) -> QWidget:
    return SamplesPanel(ctx)
