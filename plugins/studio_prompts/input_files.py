"""Reading the files a user points the prompt engine at, safely.

Why: a path is input like any other. A FIFO blocks a plain ``open`` forever, ``/dev/zero``
reads until memory runs out, a symlink loop or a NUL byte raises errors nobody catches,
and a deeply nested JSON or YAML document overflows the parser's stack. So files are
opened without blocking, checked to be regular, read up to a cap, and parsed under a
guard that turns those failures into one line naming the file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio.api import StudioFileError

MAX_DEPTH = 100  # no workflow or example needs more levels of nesting


def check_regular(
    path: Path, what: str, error: type[Exception] = StudioFileError, *, folder_ok: bool = False
) -> os.stat_result:
    """``path``'s stat, or ``error`` when it is missing, a FIFO, a device, a socket (or a
    folder, unless ``folder_ok``), or cannot even be looked at (a loop, a NUL byte)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except (OSError, ValueError) as exc:
        raise error(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        if not folder_ok:
            raise error(f"{path}: is a folder, not a {what}")
    elif not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: not a regular file (a FIFO, device or socket), so not a {what}")
    return info


def read_capped(path: Path, limit: int, what: str, error: type[Exception] = StudioFileError) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. Opened without blocking
    and checked again once open, so a file swapped for a FIFO meanwhile cannot hang us."""
    check_regular(path, what, error)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ValueError) as exc:
        raise error(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise error(f"{path}: not a regular file (a FIFO, device or socket), so not a {what}")
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise error(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise error(f"{path}: too large to be a {what} (over {limit // 2**20} MB)")
    return data


def parse_guarded(parse: Callable[[], Any], source: str, error: type[Exception] = StudioFileError) -> Any:
    """``parse()``, with a stack overflow or memory exhaustion caused by the input said as such."""
    try:
        value = parse()
    except RecursionError:
        raise error(f"{source}: nested too deeply to read") from None
    except MemoryError:
        raise error(f"{source}: too large to read into memory") from None
    if too_deep(value):
        raise error(f"{source}: nested too deeply (more than {MAX_DEPTH} levels)")
    return value


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists / dicts nest more than ``limit`` levels (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return False
