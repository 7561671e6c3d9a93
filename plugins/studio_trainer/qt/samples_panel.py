"""The Samples panel: text generated during training (and by Generate), newest first. The
newest is shown as it arrives, unless the person picked an older one."""

from __future__ import annotations

from pathlib import Path
from typing import TypeGuard

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QPlainTextEdit, QSplitter, QVBoxLayout, QWidget

from studio.api import Event, Panel, PanelContext, Span, read_events


def is_sample(event: Event) -> TypeGuard[Span]:
    """A generated sample: the trainer's sample spans (training and the generate job)."""
    return isinstance(event, Span) and event.span_kind == "sample"


class SamplesPanel(QWidget, Panel):
    def __init__(self, ctx: PanelContext, parent: QWidget | None = None):
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

    def handle_events(self, run_id: str, events: list[Event]) -> None:
        for event in events:
            if is_sample(event):
                self.add(run_id, event)

    def add(self, run_id: str, span: Span) -> None:
        step = span.record.get("step")  # the training step a sample was drawn at (none from Generate)
        label = f"{run_id[-12:]} · step {step}" if step is not None else f"{run_id[-12:]} · {span.name}"
        item = QListWidgetItem(label)
        item.setData(Qt.ItemDataRole.UserRole, span)
        # the newest is shown, and each new one in turn, unless the person picked an older one
        following = self.list.currentRow() <= 0
        self.list.insertItem(0, item)
        if following:
            self.list.setCurrentRow(0)

    def _show(self, item: QListWidgetItem | None) -> None:
        if item is None:
            self.text.clear()
            return
        span: Span = item.data(Qt.ItemDataRole.UserRole)
        prompt = _field(span.inputs, "prompt")
        params = span.record.get("params")
        shown = ", ".join(f"{k} {v}" for k, v in params.items()) if isinstance(params, dict) else ""
        self.text.setPlainText(f"[{shown}]\n{prompt}{_field(span.outputs, 'text')}")

    def open_path(self, path: Path) -> None:
        """Load the samples recorded in a run folder."""
        for event in read_events(Path(path)):
            if is_sample(event):
                self.add(Path(path).name, event)


def _field(values: object, name: str) -> str:
    """A text field of a span's inputs or outputs (a hand-edited run log may lack it)."""
    value = values.get(name, "") if isinstance(values, dict) else ""
    return value if isinstance(value, str) else str(value)


def create(ctx: PanelContext) -> QWidget:
    return SamplesPanel(ctx)
