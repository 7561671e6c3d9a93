"""Small file helpers: atomic writes and readable JSON."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


class StudioFileError(Exception):
    """A file the studio needs could not be read or written; the message says which and why."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half.

    The text goes to a temporary file in the same folder, is fsync'd, then renamed over
    the target. On failure the old file is untouched and a StudioFileError explains why.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise StudioFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StudioFileError(f"cannot write {path}: {exc.strerror or exc}") from exc


def dumps_stable(data: Any) -> str:
    """JSON a person can diff: sorted keys, two-space indent, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, dumps_stable(data))


def read_json(path: Path) -> Any:
    """Read a JSON file; a missing or malformed file raises StudioFileError with the reason."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudioFileError(f"{path} does not exist") from None
    except OSError as exc:
        raise StudioFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StudioFileError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
