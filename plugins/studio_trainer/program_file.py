"""The local provider's ``intervention=`` option: find, load (cached by path and
modification time) and check an intervention file (``inspect/program.py``) for a model.

A relative path is relative to the active workspace (``studio.api.active_workspace()``,
the folder the studio or the CLI has open), so a workflow and the provider agree on it
wherever they run; an absolute path (``~`` expanded) is used as it is."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from studio.api import active_workspace

#: an extra field of a reply that applied an intervention: {"file", "summary"}
INTERVENTION_FIELD = "studio_intervention"
_cache: dict[tuple[Path, int, int], Any] = {}
_lock = threading.Lock()


def intervention_path(value: str | Path) -> Path:
    text = str(value).strip()
    if not text:
        from .inspect.program import InterventionFileError

        raise InterventionFileError("intervention: give the path of an intervention file (.json)")
    path = Path(text).expanduser()
    return path if path.is_absolute() else active_workspace() / path


def load_for(value: str | Path, model: Any, model_name: str) -> tuple[Any, dict[str, str]]:
    """The program for ``model`` and the reply's ``studio_intervention`` field; a bad file,
    or one made for another shape of model, raises ``InterventionFileError`` naming it."""
    from .inspect.program import load_program

    path = intervention_path(value)
    try:
        stat = path.stat()
        sibling = path.with_suffix(".safetensors")
        numbers = sibling.stat().st_mtime_ns if sibling.exists() else 0
    except OSError:
        stat, numbers = None, 0
    key = (path, stat.st_mtime_ns if stat else -1, numbers)
    with _lock:
        program = _cache.get(key) if stat is not None else None
    if program is None:
        program = load_program(path)
        if stat is not None:
            with _lock:
                for old in [k for k in _cache if k[0] == path]:
                    del _cache[old]
                _cache[key] = program
    program.check(model, model_name)
    return program, {"file": str(path), "summary": program.summary()}
