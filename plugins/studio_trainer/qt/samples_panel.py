"""The Samples panel: text generated during training (and by Generate), newest first. The
newest is shown as it arrives, unless the person picked an older one. The samples of the
workspace's latest runs are read from their logs when the panel is first shown (so they are
there after a restart), and a run folder opened here adds its own. Each is labelled with the
run's date, time and short id, and the step (the whole run id in its tooltip)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TypeGuard

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QShowEvent
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QPlainTextEdit, QSplitter, QVBoxLayout, QWidget

from studio.api import Event, Panel, PanelContext, Span, StudioFileError, read_events

PAST_RUNS = 5  # the latest runs of the trainer whose samples are read at the first show
TRAINER_RUN = re.compile(r"^\d{8}-\d{6}-trainer\.(train|generate)-")
RUN_ID = re.compile(r"^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})\d{2}-(?:[\w-]+\.)?([\w.]+?)-(\w+)$")
LABEL_CHARS = 28  # a run id that is not the studio's own is elided in the middle to this


def run_label(run_id: str) -> str:
    """A run, readably: ``12-01 03:28 train-ba6e`` for ``20261201-032806-trainer.train-ba6e``;
    another name is elided in the middle."""
    match = RUN_ID.match(run_id)
    if match:
        _year, month, day, hour, minute, kind, suffix = match.groups()
        return f"{month}-{day} {hour}:{minute} {kind}-{suffix}"
    if len(run_id) <= LABEL_CHARS:
        return run_id
    half = (LABEL_CHARS - 1) // 2
    return f"{run_id[:half]}…{run_id[-half:]}"


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
        self.runs: set[str] = set()  # the runs whose samples are listed (live or read from their logs)
        self.past_read = False  # the latest runs' logs are read once, when the panel is first shown

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        if not self.past_read:
            self.past_read = True
            self.load_past_runs()

    def workspace_changed(self, workspace: Path) -> None:
        self.list.clear()
        self.runs.clear()
        self.past_read = False
        if self.isVisible():
            self.showEvent(QShowEvent())

    def runs_deleted(self, run_ids: list[str]) -> None:
        gone = set(run_ids)
        for row in reversed(range(self.list.count())):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole + 1) in gone:
                self.list.takeItem(row)
        self.runs -= gone

    def load_past_runs(self, limit: int = PAST_RUNS) -> None:
        """The samples of the workspace's latest training and generate runs, oldest first, so
        the newest ends on top."""
        runs = self.ctx.folders.runs
        try:
            names = sorted((p.name for p in runs.iterdir() if TRAINER_RUN.match(p.name)), reverse=True)
        except OSError:
            return
        for name in reversed(names[:limit]):
            self.open_path(runs / name)

    def handle_events(self, run_id: str, events: list[Event]) -> None:
        for event in events:
            if is_sample(event):
                self.runs.add(run_id)
                self.add(run_id, event)

    def add(self, run_id: str, span: Span) -> None:
        step = span.record.get("step")  # the training step a sample was drawn at (none from Generate)
        label = f"{run_label(run_id)} · step {step}" if step is not None else f"{run_label(run_id)} · {span.name}"
        item = QListWidgetItem(label)
        item.setToolTip(run_id)
        item.setData(Qt.ItemDataRole.UserRole, span)
        item.setData(Qt.ItemDataRole.UserRole + 1, run_id)
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
        """Load the samples recorded in a run folder (or its ``events.jsonl``); a run already
        listed is not listed twice."""
        path = Path(path)
        run_id = (path.parent if path.is_file() else path).name
        if run_id in self.runs:
            return
        try:
            events = read_events(path)
        except (OSError, StudioFileError):  # a log that cannot be read: no samples from it
            return
        self.runs.add(run_id)
        for event in events:
            if is_sample(event):
                self.add(run_id, event)


def _field(values: object, name: str) -> str:
    """A text field of a span's inputs or outputs (a hand-edited run log may lack it)."""
    value = values.get(name, "") if isinstance(values, dict) else ""
    return value if isinstance(value, str) else str(value)


def create(ctx: PanelContext) -> QWidget:
    return SamplesPanel(ctx)
