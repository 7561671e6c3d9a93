"""Small file helpers: atomic writes and readable JSON."""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

MAX_JSON_BYTES = 256 * 2**20  # settings, params, configs, tokenizers: far below this


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
    except (OSError, UnicodeEncodeError) as exc:  # a full disk, or text with unpaired surrogates
        Path(tmp).unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise StudioFileError(f"cannot write {path}: {reason}") from exc


def dumps_stable(data: Any) -> str:
    """JSON a person can diff: sorted keys, two-space indent, trailing newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"


def write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, dumps_stable(data))


def read_json(path: Path, *, allow_nan: bool = True) -> Any:
    """Read a JSON file; a missing, malformed or binary file raises StudioFileError with the
    reason, and so does a FIFO or device (reading one would block or never end).
    ``allow_nan=False`` refuses the non-standard ``NaN`` / ``Infinity`` literals (for
    settings a person wrote, where they are always a mistake)."""
    path = Path(path)
    check_regular_file(path)
    if path.stat().st_size > MAX_JSON_BYTES:
        raise StudioFileError(
            f"{path} is too large to be a JSON settings file "
            f"({path.stat().st_size / 2**20:.0f} MB; at most {MAX_JSON_BYTES // 2**20} MB)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StudioFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        raise StudioFileError(f"{path} is not a JSON text file (it is not UTF-8; binary?)") from None
    try:
        return json.loads(text, parse_constant=None if allow_nan else _refuse_constant)
    except json.JSONDecodeError as exc:
        raise StudioFileError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    except RecursionError:
        raise StudioFileError(f"{path} is nested too deeply to be read") from None
    except ValueError as exc:
        raise StudioFileError(f"{path}: {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows; write a finite number")


def check_regular_file(path: Path) -> None:
    """Raise StudioFileError unless ``path`` is an existing regular file (or a link to one)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise StudioFileError(f"{path} does not exist") from None
    except OSError as exc:
        raise StudioFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(mode):
        raise StudioFileError(f"{path} is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise StudioFileError(f"{path} is not a regular file (a pipe, socket or device): refusing to read it")


def looks_like_pickle(path: Path) -> bool:
    """Whether ``path`` holds a pickle (protocol 2+) or torch.save's zip archive, judged by
    its first bytes alone: a weights file from elsewhere must be refused, never unpickled
    to find out (unpickling runs code)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return False
    return head.startswith(b"PK\x03\x04") or (len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5)
