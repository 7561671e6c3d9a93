"""The model-call cache: one SQLite file, keyed by the full request.

The key is a SHA-256 of the request as canonical JSON — model, messages, every sampling
parameter, ``api_base`` and a ``cache_salt`` (BestOfN's attempt number) — never the API
key. A row keeps the request itself next to the reply, so the file can be read with any
SQLite browser to see exactly what was cached. Writes are transactions (WAL), so a crash
never leaves a half-written entry; a corrupt file is set aside and a new one started.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL
)"""


def request_key(request: dict[str, Any]) -> str:
    blob = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class CallCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        try:
            self._conn().execute("SELECT count(*) FROM calls").fetchone()
        except sqlite3.DatabaseError:
            self._set_aside()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(SCHEMA)
            self._local.conn = conn
        return conn

    def _set_aside(self) -> None:
        self._local.conn = None
        broken = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        self.path.rename(broken)
        for suffix in ("-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def get(self, key: str) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT response FROM calls WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO calls (key, request, response, created) VALUES (?, ?, ?, ?)",
            (
                key,
                json.dumps(request, ensure_ascii=False, default=str),
                json.dumps(response, ensure_ascii=False),
                time.time(),
            ),
        )

    def __len__(self) -> int:
        return self._conn().execute("SELECT count(*) FROM calls").fetchone()[0]

    def clear(self) -> None:
        self._conn().execute("DELETE FROM calls")
