"""Jobs panel: queued, running and finished jobs with progress, elapsed time, cancel and log.

Progress and elapsed time are redrawn by a 4 Hz timer from the job objects, not per event,
so a job streaming thousands of events a second costs the panel nothing extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.api import Event, Log, Panel, RunStatus, Status
from studio.qt.eliding import ElidingProgressBar

if TYPE_CHECKING:
    from studio.qt.main_window import MainWindow

COLUMNS = ("Job", "Status", "Progress", "Elapsed", "Run")
MAX_LOG_LINES = 5000


def set_progress(bar: QProgressBar, fraction: float | None) -> None:
    """Show ``fraction`` in whole percent, or a busy indicator for None. Whole percent, because
    QProgressBar repaints at once on every new value: a bar fed each step's fraction 4 times a
    second was a visible share of the GUI's CPU while a run trains."""
    maximum, value = (0, 0) if fraction is None else (100, round(fraction * 100))
    bar.setRange(0, maximum)  # both are no-ops when nothing changed
    bar.setValue(value)


def create(ctx) -> JobsPanel:
    return JobsPanel(ctx)


class JobsPanel(QWidget, Panel):
    def __init__(self, ctx):
        super().__init__()
        self.ctx = ctx
        self.main_window: MainWindow = ctx._window
        self.setObjectName("studio:jobs:panel")
        self.tree = QTreeWidget(objectName="jobs")
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setColumnWidth(0, 260)
        self.tree.setColumnWidth(2, 180)
        self.tree.currentItemChanged.connect(lambda *_: self._show_log())
        self.cancel_button = QPushButton("Cancel", objectName="cancel", enabled=False)
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.curves_button = QPushButton("Show curves", enabled=False)
        self.curves_button.clicked.connect(self._show_curves)
        run_button = QPushButton("Run job…")
        run_button.clicked.connect(lambda: self.main_window.run_job_dialog())
        self.log = QPlainTextEdit(readOnly=True, objectName="job_log")
        self.log.setMaximumBlockCount(MAX_LOG_LINES)
        self.log.setPlaceholderText("Select a job to see its log.")
        buttons = QHBoxLayout()
        for b in (run_button, self.cancel_button, self.curves_button):
            buttons.addWidget(b)
        buttons.addStretch()
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.tree)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.log)
        split.setSizes([600, 400])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(split)
        self.items: dict[str, QTreeWidgetItem] = {}
        self.bars: dict[str, QProgressBar] = {}
        self.dropped: set[str] = set()  # finished jobs whose runs were deleted: no longer listed
        self.timer = QTimer(self, interval=250, timeout=self.refresh)
        self.timer.start()

    # events: only status changes and log lines need immediate attention
    def handle_events(self, run_id: str, events: list[Event]) -> None:
        if run_id not in self.items:
            self.refresh()
        if any(isinstance(e, Status) for e in events):
            self.refresh()
        if self._selected_id() == run_id:
            lines = [_log_line(e) for e in events if isinstance(e, Log)]
            if lines:
                self.log.appendPlainText("\n".join(lines))

    def refresh(self) -> None:
        jobs = self.ctx._studio.jobs.jobs
        for job_id, job in jobs.items():
            if job_id in self.dropped:
                continue
            item = self.items.get(job_id)
            if item is None:
                item = QTreeWidgetItem([job.kind.title, "", "", "", job_id])
                item.setData(0, Qt.ItemDataRole.UserRole, job_id)
                self.tree.insertTopLevelItem(0, item)
                new_bar = ElidingProgressBar(maximumHeight=16)  # a long message is elided, not cut at both ends
                self.tree.setItemWidget(item, 2, new_bar)
                self.items[job_id], self.bars[job_id] = item, new_bar
            item.setText(1, job.status + (f": {job.error.splitlines()[0]}" if job.error else ""))
            item.setToolTip(1, job.error or "")
            item.setText(3, f"{job.elapsed:.1f} s")
            bar = self.bars[job_id]
            busy = job.status == RunStatus.RUNNING and job.fraction is None  # until the job reports a total
            set_progress(bar, None if busy else 1.0 if job.status == RunStatus.SUCCEEDED else job.fraction or 0.0)
            # an ended job says how it ended, not the step it was on ("reading the checkpoint",
            # "step 400/400"): done, failed or cancelled (the last message stays in the tooltip)
            ended = "done" if job.status == RunStatus.SUCCEEDED else str(job.status)
            bar.setFormat(ended if not job.active else job.progress_message or "%p%")
            bar.setToolTip(job.error or job.progress_message)
        self._update_buttons()

    def runs_deleted(self, run_ids: list[str]) -> None:
        """Finished jobs whose runs were deleted leave the list; an active job stays."""
        jobs = self.ctx._studio.jobs.jobs
        for run_id in run_ids:
            job = jobs.get(run_id)
            if job is not None and job.active:
                continue
            self.dropped.add(run_id)
            item = self.items.pop(run_id, None)
            self.bars.pop(run_id, None)
            if item is not None:
                self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(item))
        self._show_log()

    def _selected_id(self) -> str | None:
        item = cast("QTreeWidgetItem | None", self.tree.currentItem())  # stubs omit None (no current item)
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def select(self, job_id: str) -> None:
        self.refresh()
        if job_id in self.items:
            self.tree.setCurrentItem(self.items[job_id])

    def _update_buttons(self) -> None:
        job = self.ctx._studio.jobs.jobs.get(self._selected_id() or "")
        self.cancel_button.setEnabled(bool(job and job.active and not job.cancel_requested))
        self.curves_button.setEnabled(job is not None)

    def _show_log(self) -> None:
        self._update_buttons()
        job = self.ctx._studio.jobs.jobs.get(self._selected_id() or "")
        self.log.clear()
        if job is None:
            return
        lines = [_log_line(e) for e in job.run.events() if isinstance(e, Log)]
        if job.error:
            lines.append(f"[{job.status}] {job.error}")
        self.log.setPlainText("\n".join(lines[-MAX_LOG_LINES:]))

    def cancel_selected(self) -> None:
        job_id = self._selected_id()
        if job_id:
            self.ctx._studio.jobs.cancel(job_id)
            self._update_buttons()

    def _show_curves(self) -> None:
        job = self.ctx._studio.jobs.jobs.get(self._selected_id() or "")
        if job is not None:
            self.main_window.open_path(job.run.dir)


def _log_line(event: Log) -> str:
    prefix = "" if event.level == "info" else f"[{event.level}] "
    return prefix + event.text
