"""Log panel: the studio's own log messages and every job's log lines, in one place.

Python logging may be called from any thread; records are queued and appended by a 10 Hz
timer on the GUI thread, which also keeps a chatty job from flooding the widget.
"""

from __future__ import annotations

import collections
import logging
import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from studio.api import Event, Log, Panel, RunStatus, Status

MAX_LINES = 10000

LEVELS = ("debug", "info", "warning", "error")


def create(ctx) -> LogPanel:
    return LogPanel(ctx)


class _QueueHandler(logging.Handler):
    def __init__(self, queue: collections.deque):
        super().__init__(logging.INFO)
        self.queue = queue

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.queue.append((record.levelname.lower(), f"{record.name}: {record.getMessage()}", record.created))
        except Exception:  # logging must never raise
            pass


class LogPanel(QWidget, Panel):
    def __init__(self, ctx):
        super().__init__()
        self.ctx = ctx
        self.pending: collections.deque = collections.deque(maxlen=MAX_LINES)
        self.handler = _QueueHandler(self.pending)
        logging.getLogger().addHandler(self.handler)
        studio_logger = logging.getLogger("studio")
        if studio_logger.getEffectiveLevel() > logging.INFO:  # the studio's info messages belong here
            studio_logger.setLevel(logging.INFO)
        self.text = QPlainTextEdit(readOnly=True, objectName="log")
        self.text.setMaximumBlockCount(MAX_LINES)
        self.level = QComboBox(objectName="level")
        self.level.addItems(LEVELS)
        self.level.setCurrentText("info")
        clear = QPushButton("Clear")
        clear.clicked.connect(self.text.clear)
        top = QHBoxLayout()
        top.addWidget(self.level)
        top.addStretch()
        top.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.text)
        self.timer = QTimer(self, interval=100, timeout=self.flush)
        self.timer.start()
        self.destroyed.connect(lambda *_: logging.getLogger().removeHandler(self.handler))

    def handle_events(self, run_id: str, events: list[Event]) -> None:
        short = run_id.rsplit("-", 1)[-1]
        for e in events:
            if isinstance(e, Log):
                self.pending.append((e.level, f"job {short}: {e.text}", e.t or time.time()))
            elif isinstance(e, Status) and e.finished:
                level = "error" if e.status == RunStatus.FAILED else "info"
                detail = f": {e.error}" if e.error else ""
                self.pending.append((level, f"job {run_id} {e.status}{detail}", e.t or time.time()))

    def flush(self) -> None:
        if not self.pending:
            return
        threshold = LEVELS.index(self.level.currentText())
        lines = []
        while self.pending:
            level, text, t = self.pending.popleft()
            level = "error" if level == "critical" else level
            rank = LEVELS.index(level) if level in LEVELS else 1
            if rank >= threshold:
                stamp = time.strftime("%H:%M:%S", time.localtime(t))
                lines.append(f"{stamp} {level:<7} {text}")
        if lines:
            self.text.appendPlainText("\n".join(lines))
