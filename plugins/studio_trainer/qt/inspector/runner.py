"""Runs the Inspector's heavy work (the inspection itself, attention maps, interventions)
on one background thread, so the GUI never waits on torch; only the newest request of
each kind is answered (a superseded or cancelled one is dropped when it ends)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


def one_line(exc: BaseException) -> str:
    """An exception as one line for the panel (its type only when it has no message)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class _Bridge(QObject):
    """Lives on the GUI thread: signals emitted from the worker arrive queued, on the GUI thread."""

    finished = Signal(str, int, object, str)  # kind, ticket, result, error ("" when it succeeded)


class _Task(QRunnable):
    def __init__(self, bridge: _Bridge, kind: str, ticket: int, fn: Callable[[], Any]):
        super().__init__()
        self.bridge, self.kind, self.ticket, self.fn = bridge, kind, ticket, fn

    def run(self) -> None:
        result: Any = None
        error = ""
        try:
            result = self.fn()
        except Exception as exc:  # shown in the panel as one line
            log.debug("inspector task %s failed", self.kind, exc_info=True)
            error = one_line(exc) or "failed"
        try:
            self.bridge.finished.emit(self.kind, self.ticket, result, error)
        except RuntimeError:  # the panel was closed while this ran
            pass


class Runner(QObject):
    """``submit(kind, fn, on_done, on_error)``: ``fn()`` runs on the worker thread (one at a
    time: the engine's cached model is not shared between threads); ``on_done(result)`` or
    ``on_error(message)`` is called on the GUI thread if no newer ``kind`` was submitted."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.bridge = _Bridge(self)
        self.bridge.finished.connect(self._finished)
        self.tickets: dict[str, int] = {}
        self.callbacks: dict[tuple[str, int], tuple[Callable[[Any], None], Callable[[str], None]]] = {}

    def submit(
        self, kind: str, fn: Callable[[], Any], on_done: Callable[[Any], None], on_error: Callable[[str], None]
    ) -> int:
        ticket = self.tickets.get(kind, 0) + 1
        self.tickets[kind] = ticket
        self.callbacks[(kind, ticket)] = (on_done, on_error)
        self.pool.start(_Task(self.bridge, kind, ticket, fn))
        return ticket

    def cancel(self, kind: str) -> None:
        """Forget the pending ``kind`` request: its result is dropped when it comes."""
        self.tickets[kind] = self.tickets.get(kind, 0) + 1

    def busy(self, kind: str) -> bool:
        return (kind, self.tickets.get(kind, 0)) in self.callbacks

    def _finished(self, kind: str, ticket: int, result: Any, error: str) -> None:
        callbacks = self.callbacks.pop((kind, ticket), None)
        if callbacks is None or self.tickets.get(kind) != ticket:
            return
        on_done, on_error = callbacks
        if error:
            on_error(error)
            return
        try:
            on_done(result)
        except Exception as exc:  # a view that cannot show the result says so instead of going blank
            log.exception("the inspector could not show a %s result", kind)
            on_error(f"could not show it: {one_line(exc)}")

    def wait(self, ms: int = 30_000) -> bool:
        """Wait for the running task (closing the panel; tests)."""
        return self.pool.waitForDone(ms)
