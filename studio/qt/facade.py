"""The PanelContext a plugin's panel receives: a narrow, public-only view of the studio."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from studio.api import Event, Folders, JobOutcome, RunStatus, Status, run_status

log = logging.getLogger(__name__)


class StudioPanelContext:
    def __init__(self, plugin_id: str, window: Any):
        self.plugin_id = plugin_id
        self._window = window

    @property
    def _studio(self):
        return self._window.studio

    @property
    def workspace(self) -> Path:
        return self._studio.workspace.root

    @property
    def folders(self) -> Folders:
        return Folders(self._studio.workspace.root)

    @property
    def data_dir(self) -> Path:
        return self.folders.plugin_dir(self.plugin_id)

    def subscribe(
        self, callback: Callable[[str, list[Event]], None], kinds: tuple[type[Event] | str, ...] | None = None
    ) -> Callable[[], None]:
        return self._studio.bus.subscribe(callback, kinds)

    def submit_job(
        self, kind: str, params: dict[str, Any] | BaseModel, when_finished: Callable[[JobOutcome], None] | None = None
    ) -> str:
        run_id = self._window.submit_job(kind, params).id
        if when_finished is not None:
            self.when_finished(run_id, when_finished)
        return run_id

    def when_finished(self, run_id: str, callback: Callable[[JobOutcome], None]) -> None:
        outcome = self._outcome(run_id)
        if outcome is not None:
            callback(outcome)
            return
        unsubscribe: Callable[[], None] | None = None

        def on_status(event_run_id: str, events: list[Event]) -> None:
            if event_run_id != run_id or not any(isinstance(e, Status) and e.finished for e in events):
                return
            if unsubscribe is not None:
                unsubscribe()
            done = self._outcome(run_id)
            if done is not None:
                callback(done)

        unsubscribe = self._studio.bus.subscribe(on_status, (Status,))

    def _outcome(self, run_id: str) -> JobOutcome | None:
        """How ``run_id`` ended, or None while it is active. A run of an earlier session
        is read from its ``run.json``."""
        folder = self.folders.run_dir(run_id)
        job = self._studio.jobs.jobs.get(run_id)
        if job is not None:
            if job.active:
                return None
            return JobOutcome(run_id, job.status, folder, job.result, job.error)
        info = self._studio.store.get(run_id).info()
        status = run_status(info.get("status"))
        if status is None or status.active:
            return None
        return JobOutcome(
            run_id, status, folder, info.get("result") if status == RunStatus.SUCCEEDED else None, info.get("error")
        )

    def cancel_job(self, run_id: str) -> None:
        self._studio.jobs.cancel(run_id)

    def settings(self) -> dict[str, Any]:
        return dict(self._studio.settings.plugin_settings.get(self.plugin_id, {}))

    def save_settings(self, values: dict[str, Any]) -> None:
        self._studio.settings.plugin_settings[self.plugin_id] = dict(values)
        self._studio.save_settings()

    def show_message(self, text: str, level: str = "info") -> None:
        self._window.show_message(text, level)

    def show_panel(self, panel_id: str) -> Any:
        return self._window.show_panel(panel_id)

    def open_path(self, path: Path) -> bool:
        return self._window.open_path(Path(path))
