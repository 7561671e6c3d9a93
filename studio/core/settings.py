"""User settings: a small pydantic model stored as readable JSON in the config folder.

Secrets never live here (see ``studio.core.secrets``). A corrupt settings file is moved
aside (``settings.json.corrupt``), reported, and replaced by defaults: nothing is lost.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from .files import StudioFileError, read_json, write_json
from .paths import config_dir

log = logging.getLogger(__name__)

MAX_RECENT = 10


class Settings(BaseModel):
    theme: Literal["system", "light", "dark"] = "system"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    workspace: str | None = None
    recent_workspaces: list[str] = Field(default_factory=list)
    disabled_plugins: list[str] = Field(default_factory=list)
    max_process_jobs: int = Field(1, ge=1, le=64, description="process jobs run at once")
    max_async_jobs: int = Field(4, ge=1, le=256, description="async jobs run at once")
    plugin_settings: dict[str, dict] = Field(default_factory=dict)

    def remember_workspace(self, path: Path) -> None:
        text = str(Path(path).resolve())
        self.workspace = text
        self.recent_workspaces = [text] + [p for p in self.recent_workspaces if p != text]
        del self.recent_workspaces[MAX_RECENT:]


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings(path: Path | None = None) -> tuple[Settings, str | None]:
    """Return the settings and, if the file had to be set aside, a message saying so."""
    path = path or settings_path()
    if not path.exists():
        return Settings(), None
    try:
        return Settings.model_validate(read_json(path)), None
    except (StudioFileError, ValidationError) as exc:
        backup = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            path.rename(backup)
            where = f"it was moved to {backup}"
        except OSError:
            where = "it was left in place"
        message = f"Settings file {path} could not be read ({_first_line(exc)}); defaults are used and {where}."
        log.warning(message)
        return Settings(), message


def save_settings(settings: Settings, path: Path | None = None) -> None:
    write_json(path or settings_path(), settings.model_dump(mode="json"))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
