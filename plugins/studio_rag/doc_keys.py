"""Document keys: the text a collection stores for a file's path, and back.

Why: SQLite, JSON and terminals take UTF-8 only, but a file name is bytes. A name a
latin-1 system wrote (``caf\\xe9.txt``) decodes in Python to a lone surrogate, and one
such name failed a whole indexing run. A path that is valid UTF-8 is its own key; any
other is stored with its undecodable bytes as ``\\xNN`` escapes, readable and reversible.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPE = re.compile(rb"\\x([0-9a-f]{2})")


def is_utf8(text: str) -> bool:
    """Whether ``text`` can go to SQLite, JSON or a terminal as it is."""
    return _SURROGATE.search(text) is None


def doc_key(path: str | Path) -> str:
    text = str(path)
    if is_utf8(text):
        return text
    try:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that no file-system decoding made
        return safe_text(text)


def doc_path(key: str) -> Path:
    """The file a key names (its ``\\xNN`` escapes turned back into bytes)."""
    path = Path(key)
    if "\\x" not in key or path.exists():
        return path
    raw = _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), key.encode("utf-8"))
    return Path(os.fsdecode(raw))


def safe_text(text: str) -> str:
    """``text`` with any lone surrogate escaped (a message that quotes a file name)."""
    return text if is_utf8(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def clean_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by ``?``: one character for one, so
    offsets into it still hold."""
    return text if is_utf8(text) else _SURROGATE.sub("?", text)
