"""JobTracker: how a panel runs its jobs — submit, follow, cancel, read the outcome.

Every panel that starts jobs did the same by hand: remember the run id, filter the event
stream for it, show progress, enable a Cancel button while it runs, then read the result
when a status event says it ended. The tracker does that once::

    self.tracker = JobTracker(ctx, self, progress=self.bar, cancel=self.cancel_button,
                              status=self.status_label)
    self.tracker.start("rag.index", params, title="Indexing", on_done=self.indexed)

    def indexed(self, outcome: JobOutcome) -> None:
        if outcome.succeeded:
            self.show(outcome.result)

Widgets are optional; the tracker only drives those it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractButton, QLabel, QProgressBar, QWidget

from studio.api import Event, JobError, JobOutcome, PanelContext, Progress, RunStatus, StudioFileError


@dataclass
class TrackedRun:
    run_id: str
    kind: str
    title: str
    on_done: Callable[[JobOutcome], None] | None
    on_event: Callable[[Event], None] | None


class JobTracker(QObject):
    """Follows the jobs a panel starts. ``started(run_id)`` and ``finished(outcome)`` are
    also signals, for code that prefers connecting to passing callbacks."""

    started = Signal(str)
    finished = Signal(object)  # JobOutcome

    def __init__(
        self,
        ctx: PanelContext,
        parent: QObject | None = None,
        *,
        progress: QProgressBar | None = None,
        cancel: QAbstractButton | None = None,
        status: QLabel | None = None,
        busy_disabled: tuple[QWidget | QAction, ...] = (),
    ):
        """``busy_disabled``: widgets or actions to disable while a job runs (what starts one)."""
        super().__init__(parent)
        self.ctx = ctx
        self.progress, self.cancel_button, self.status = progress, cancel, status
        self.busy_disabled = busy_disabled
        self.runs: dict[str, TrackedRun] = {}  # active runs, by run id
        self.last: JobOutcome | None = None
        self._unsubscribe = ctx.subscribe(self._on_events)
        self.destroyed.connect(lambda *_: self._unsubscribe())
        if cancel is not None:
            cancel.clicked.connect(lambda: self.cancel())
        self._update_widgets()

    # ------------------------------------------------------------------ public

    def start(
        self,
        kind: str,
        params: dict[str, Any] | Any,
        *,
        title: str = "",
        on_done: Callable[[JobOutcome], None] | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> str | None:
        """Submit a job and follow it. Returns its run id, or None if it could not start
        (the reason is shown in the status label, or as a message)."""
        title = title or kind
        try:
            run_id = self.ctx.submit_job(kind, params)
        except (JobError, StudioFileError) as exc:  # bad input, a full disk: said in the label and a dialog
            self._say(f"{title} could not start: {exc}", level="error")
            return None
        self.runs[run_id] = TrackedRun(run_id, kind, title, on_done, on_event)
        self._say(f"{title}…")
        self._update_widgets(busy=True)
        self.started.emit(run_id)
        self.ctx.when_finished(run_id, self._finished)
        return run_id

    def cancel(self, run_id: str | None = None) -> None:
        """Cancel one run, or every run this tracker follows."""
        for rid in [run_id] if run_id else list(self.runs):
            if rid in self.runs:
                self.ctx.cancel_job(rid)

    @property
    def busy(self) -> bool:
        return bool(self.runs)

    def follows(self, run_id: str) -> bool:
        return run_id in self.runs

    # ------------------------------------------------------------------ events

    def _on_events(self, run_id: str, events: list[Event]) -> None:
        run = self.runs.get(run_id)
        if run is None:
            return
        for event in events:
            if isinstance(event, Progress):
                self._show_progress(run, event)
            if run.on_event is not None:
                run.on_event(event)

    def _show_progress(self, run: TrackedRun, event: Progress) -> None:
        if self.progress is not None:
            if event.total:
                self.progress.setRange(0, 1000)
                self.progress.setValue(round(1000 * max(0.0, min(1.0, event.done / event.total))))
            else:
                self.progress.setRange(0, 0)  # busy until the job reports a total
        if event.message:
            self._say(f"{run.title}: {event.message}")

    def _finished(self, outcome: JobOutcome) -> None:
        run = self.runs.pop(outcome.run_id, None)
        if run is None:
            return
        self.last = outcome
        if outcome.status == RunStatus.SUCCEEDED:
            self._say(f"{run.title}: done (run {outcome.run_id})")
        elif outcome.status == RunStatus.CANCELLED:
            self._say(f"{run.title}: cancelled")
        else:
            self._say(f"{run.title} {outcome.status}: {outcome.error or 'no reason given'}", level="warning")
        self._update_widgets()
        if run.on_done is not None:
            run.on_done(outcome)
        self.finished.emit(outcome)

    # ------------------------------------------------------------------ widgets

    def _update_widgets(self, busy: bool | None = None) -> None:
        busy = self.busy if busy is None else busy
        if self.progress is not None:
            self.progress.setVisible(busy)
            if busy:
                self.progress.setRange(0, 0)
        if self.cancel_button is not None:
            self.cancel_button.setEnabled(busy)
        for widget in self.busy_disabled:
            widget.setEnabled(not busy)

    def _say(self, text: str, level: str = "") -> None:
        """Progress goes to the status label; problems also to the studio's messages (status
        bar and Log panel; a dialog for an error the user caused)."""
        if self.status is not None:
            self.status.setText(text)
        if level:
            self.ctx.show_message(text, level)
