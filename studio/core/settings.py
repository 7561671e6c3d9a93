"""User settings: a small pydantic model stored as readable JSON in the config folder.

Secrets never live here (see ``studio.core.secrets``). A corrupt settings file is moved
aside (``settings.json.corrupt``), reported, and replaced by defaults: nothing is lost.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
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


def load_settings(path: Path | None = None, *, set_aside: bool = False) -> tuple[Settings, str | None]:
    """Return the settings and, if the file could not be read, a message saying so.
    An unreadable file is moved aside only with ``set_aside`` — by a writer, just before
    it writes new settings — so reading never changes the disk. A file (or folder) the
    user has no permission to read is not moved aside: a writer gets StudioFileError."""
    path = path or settings_path()
    try:
        path.stat()
    except FileNotFoundError:
        return Settings(), None
    except OSError:
        pass  # a folder on the way that cannot be searched: read_json says so
    try:
        return Settings.model_validate(read_json(path)), None
    except (StudioFileError, ValidationError) as exc:
        if set_aside and isinstance(exc.__cause__, OSError):
            # not a bad file but one this user may not read (permissions): moving it aside
            # and writing defaults would lose the settings, so a writer stops here
            raise StudioFileError(
                f"cannot read the settings file {path}: {exc.__cause__.strerror or exc.__cause__}; "
                "give yourself read and write access to it (and its folder) and try again"
            ) from exc
        if not set_aside:
            message = f"Settings file {path} could not be read ({_first_line(exc)}); defaults are used" + (
                " (give yourself access to it: settings cannot be saved until then)."
                if isinstance(exc.__cause__, OSError)
                else ", and the file is kept until settings are next saved (then moved aside, not deleted)."
            )
            log.warning(message)
            return Settings(), message
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


def update_settings(change: Callable[[Settings], None], path: Path | None = None) -> Settings:
    """Read-modify-write the settings file under a lock, so two processes changing it at
    once (two ``plugins disable``, or the CLI while the studio is open) both keep their
    change. ``change`` edits the settings as they are on disk now; the file is rewritten
    only if something changed. Returns the settings as written."""
    path = path or settings_path()
    with settings_lock(path):
        current, _ = load_settings(path, set_aside=True)
        before = current.model_dump(mode="json")
        change(current)
        if current.model_dump(mode="json") != before or not path.exists():
            save_settings(current, path)
        return current


@contextlib.contextmanager
def settings_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``<settings>.lock`` (POSIX ``flock``; elsewhere no lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(lock_path, "a")  # noqa: SIM115 - held by the with below, opening is what may fail
    except OSError as exc:
        raise StudioFileError(f"cannot lock {lock_path}: {exc.strerror or exc}") from exc
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
