"""The PanelContext a plugin's panel receives: a narrow, public-only view of the studio."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel

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

    def subscribe(self, callback: Callable[[str, list[dict]], None],
                  kinds: tuple[str, ...] | None = None) -> Callable[[], None]:
        return self._studio.bus.subscribe(callback, kinds)

    def submit_job(self, kind: str, params: dict[str, Any] | BaseModel) -> str:
        return self._window.submit_job(kind, params).id

    def settings(self) -> dict[str, Any]:
        return dict(self._studio.settings.plugin_settings.get(self.plugin_id, {}))

    def save_settings(self, values: dict[str, Any]) -> None:
        self._studio.settings.plugin_settings[self.plugin_id] = dict(values)
        self._studio.save_settings()

    def show_message(self, text: str, level: str = "info") -> None:
        self._window.show_message(text, level)
