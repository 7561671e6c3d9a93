"""The model-call cache: one SQLite file, keyed by the full request.

The key is a SHA-256 of the request as canonical JSON — model, messages, every sampling
parameter, ``api_base`` and a ``cache_salt`` (BestOfN's attempt number) — never the API
key. A row keeps the request itself next to the reply, so the file can be read with any
SQLite browser to see exactly what was cached. Writes are transactions (WAL), so a crash
never leaves a half-written entry.

Only a file that is not a database, or a damaged one, is set aside (renamed
``<name>.corrupt-<time>``, its ``-wal`` and ``-shm`` files moved along with it) and a new
one started. Any other problem — a full disk, a locked or read-only file, a folder without
permissions — leaves the file as it is: the cache is not used for the rest of the run
(reads go on when only writing fails), and ``warn`` is told once. A cache problem never
stops a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL
)"""

#: SQLite's primary result codes that mean the file's content is not a (sound) database
SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26


def request_key(request: dict[str, Any]) -> str:
    blob = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def is_damaged(exc: BaseException) -> bool:
    """Whether ``exc`` says the database file itself is broken (not a database, malformed),
    rather than that it cannot be used now (full disk, locked, read-only, no permission)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return (
        isinstance(exc, sqlite3.DatabaseError) and code is not None and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)
    )


def _reason(exc: BaseException, folder: Path) -> str:
    """What went wrong, in SQLite's or the OS's words, and that the disk is full when it is
    (SQLite may say only "disk I/O error")."""
    text = (exc.strerror.lower() if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__
    if "full" not in text and "no space" not in text:
        with contextlib.suppress(OSError):
            if shutil.disk_usage(folder).free < 64 * 1024:
                text += "; its disk is full"
    return text


class CallCache:
    """``warn(text)`` hears, once, why the cache stopped being used (None: not told)."""

    def __init__(self, path: str | Path, *, timeout: float = 10.0, warn: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.timeout = timeout
        self._warn = warn
        self._local = threading.local()
        self.problem = ""  # why the cache is not used at all ("" while it is)
        self.write_problem = ""  # why replies are no longer written ("" while they are)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._check()
        except sqlite3.DatabaseError as exc:
            if not is_damaged(exc):
                self._give_up(exc)
                return
            try:
                broken = self._set_aside()
                self._check()
            except (sqlite3.Error, OSError) as again:
                self._give_up(again)
            else:
                self._tell(f"{self.path} was damaged ({exc}); it was moved to {broken.name} and a new cache started")
        except OSError as exc:
            self._give_up(exc)

    def _check(self) -> None:
        self._conn().execute("SELECT count(*) FROM calls").fetchone()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            # kept even when what follows fails: closing the last connection to a file that
            # is not a database deletes its -wal and -shm, so a damaged file is moved first
            self._local.conn = conn
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(SCHEMA)
        return conn

    def _set_aside(self) -> Path:
        """Move the damaged file and its ``-wal``/``-shm`` companions (never deleted: the
        WAL may hold entries not yet in the file) to a free ``.corrupt-<time>`` name. The
        connection is closed after the move: SQLite deletes the companions it sees on close."""
        stamp = int(time.time())
        broken = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while any(Path(f"{broken}{suffix}").exists() for suffix in ("", "-wal", "-shm")):
            broken = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        self.path.rename(broken)
        for suffix in ("-wal", "-shm"):
            companion = Path(f"{self.path}{suffix}")
            if companion.exists():
                companion.rename(f"{broken}{suffix}")
        self.close()
        return broken

    def _tell(self, text: str) -> None:
        if self._warn is not None:
            self._warn(text)

    def _give_up(self, exc: BaseException) -> None:
        self.close()
        self.problem = _reason(exc, self.path.parent)
        self._tell(f"the call cache {self.path} is not used in this run ({self.problem}); the file is left as it is")

    def get(self, key: str) -> dict[str, Any] | None:
        if self.problem:
            return None
        try:
            row = self._conn().execute("SELECT response FROM calls WHERE key = ?", (key,)).fetchone()
        except (sqlite3.Error, OSError) as exc:
            self._give_up(exc)
            return None
        return json.loads(row[0]) if row else None

    def put(self, key: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        if self.problem or self.write_problem:
            return
        try:
            self._conn().execute(
                "INSERT OR REPLACE INTO calls (key, request, response, created) VALUES (?, ?, ?, ?)",
                (
                    key,
                    json.dumps(request, ensure_ascii=False, default=str),
                    json.dumps(response, ensure_ascii=False),
                    time.time(),
                ),
            )
        except (sqlite3.Error, OSError) as exc:
            self.write_problem = _reason(exc, self.path.parent)
            self._tell(
                f"replies are no longer written to the call cache {self.path} in this run "
                f"({self.write_problem}); what it holds is still used"
            )

    def __len__(self) -> int:
        return 0 if self.problem else self._conn().execute("SELECT count(*) FROM calls").fetchone()[0]

    def clear(self) -> None:
        if not self.problem:
            self._conn().execute("DELETE FROM calls")

    def close(self) -> None:
        """Close this thread's connection (the next use opens a new one)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
