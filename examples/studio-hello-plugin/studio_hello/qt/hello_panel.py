"""The Hello panel: the job's parameters, Run and Cancel, its progress and its result.

``JobTracker`` (``studio.widgets``) runs the job: it submits it, drives the progress bar,
the Cancel button and the status line, and hands ``done`` the outcome with the result.
The panel is a ``Panel`` too; override ``handle_events``, ``open_path``, ``save_state``,
``restore_state`` or ``workspace_changed`` (see ``studio.api.Panel``) to get those calls.
"""

from __future__ import annotations

import json

from PySide6 import QtWidgets

from studio.api import JobOutcome, Panel, PanelContext
from studio.widgets import JobTracker, ParamsForm

from ..config import CountParams

JOB_KIND = "hello.count"


class HelloPanel(QtWidgets.QWidget, Panel):
    def __init__(self, ctx: PanelContext):
        super().__init__()
        self.form = ParamsForm(CountParams)  # the same form the "Run job…" dialog shows
        self.run_button = QtWidgets.QPushButton("Run")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.progress = QtWidgets.QProgressBar()
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        self.result = QtWidgets.QPlainTextEdit()
        self.result.setReadOnly(True)
        self.result.setPlaceholderText("the job's result")
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.result)
        self.tracker = JobTracker(
            ctx,
            self,
            progress=self.progress,
            cancel=self.cancel_button,
            status=self.status,
            busy_disabled=(self.run_button,),  # no second run while one runs
        )
        self.run_button.clicked.connect(self.run)

    def run(self) -> str | None:
        """Start the job with the form's values: its run id, or None if it could not start
        (bad values: the status line says why)."""
        self.result.clear()
        return self.tracker.start(JOB_KIND, self.form.values(), title="Counting", on_done=self.done)

    def done(self, outcome: JobOutcome) -> None:
        if outcome.succeeded:
            self.result.setPlainText(json.dumps(outcome.result, indent=2))


def create(ctx: PanelContext) -> HelloPanel:
    return HelloPanel(ctx)
