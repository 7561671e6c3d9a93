"""The call cache keeps what it holds: only a file that is not a database, or a damaged
one, is set aside (with its -wal and -shm files, never deleted); a locked, read-only or
unreachable cache is left as it is and the run goes on without it, with one warning."""

from __future__ import annotations

import os
import sqlite3

import pytest

from studio_prompts.cache import CallCache, is_damaged


def filled(path, rows: int = 21) -> bytes:
    cache = CallCache(path)
    for i in range(rows):
        cache.put(f"k{i}", {"i": i}, {"text": f"reply {i}"})
    cache.close()
    return path.read_bytes()


def test_a_file_that_is_not_a_database_is_set_aside_with_its_wal_and_shm(tmp_path):
    path = tmp_path / "llm-cache.sqlite"
    path.write_bytes(b"not a database at all, " * 200)
    (tmp_path / "llm-cache.sqlite-wal").write_bytes(b"wal entries not yet checkpointed")
    (tmp_path / "llm-cache.sqlite-shm").write_bytes(b"shm")
    told: list[str] = []
    cache = CallCache(path, warn=told.append)
    assert not cache.problem and len(cache) == 0
    cache.put("k", {}, {"text": "new"})
    assert cache.get("k") == {"text": "new"}
    (aside,) = tmp_path.glob("llm-cache.sqlite.corrupt-*[0-9]")
    assert aside.read_bytes().startswith(b"not a database")
    assert (tmp_path / f"{aside.name}-wal").read_bytes() == b"wal entries not yet checkpointed"
    assert (tmp_path / f"{aside.name}-shm").exists()  # an index SQLite rebuilds: moved, its bytes may change
    assert len(told) == 1 and aside.name in told[0]
    # a second damaged file in the same second does not overwrite the first one set aside
    cache.close()
    path.write_bytes(b"garbage again " * 200)
    CallCache(path)
    assert len(list(tmp_path.glob("llm-cache.sqlite.corrupt-*"))) == 4  # two files, and one's -wal, -shm


def test_a_locked_cache_is_left_alone_and_the_run_goes_on_without_it(tmp_path):
    path = tmp_path / "llm-cache.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)  # a rollback-journal database, locked by another
    holder.execute("CREATE TABLE calls (key TEXT PRIMARY KEY, request TEXT, response TEXT, created REAL)")
    holder.execute("INSERT INTO calls VALUES ('k', '{}', '{\"text\": \"kept\"}', 0)")
    holder.execute("BEGIN EXCLUSIVE")
    before = path.read_bytes()
    told: list[str] = []
    cache = CallCache(path, timeout=0.1, warn=told.append)
    assert "locked" in cache.problem and len(told) == 1 and "left as it is" in told[0]
    assert cache.get("k") is None and len(cache) == 0
    cache.put("k2", {}, {"text": "x"})  # no error: the run is not stopped by its cache
    holder.execute("ROLLBACK")
    holder.close()
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["llm-cache.sqlite"]
    assert CallCache(path).get("k") == {"text": "kept"}


def test_when_writing_fails_midway_the_cache_is_still_read_and_warns_once(tmp_path):
    path = tmp_path / "llm-cache.sqlite"
    filled(path, rows=3)
    told: list[str] = []
    cache = CallCache(path, timeout=0.1, warn=told.append)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    cache.put("new", {}, {"text": "a"})
    cache.put("newer", {}, {"text": "b"})
    holder.execute("ROLLBACK")
    holder.close()
    assert len(told) == 1 and "locked" in told[0] and "still used" in told[0]
    assert cache.get("k1") == {"text": "reply 1"} and cache.get("new") is None
    assert not cache.problem and len(cache) == 3


def test_a_cache_that_cannot_be_made_is_no_error(tmp_path):
    (tmp_path / "prompts").write_text("a file where the folder should be")
    told: list[str] = []
    cache = CallCache(tmp_path / "prompts" / "llm-cache.sqlite", warn=told.append)
    assert cache.problem and len(told) == 1 and cache.get("k") is None
    assert not list(tmp_path.glob("**/*corrupt*"))


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root is not stopped by file modes")
@pytest.mark.parametrize("mode", [0o555, 0o000])
def test_a_folder_without_permissions_leaves_the_cache_as_it_is(tmp_path, mode):
    folder = tmp_path / "prompts"
    folder.mkdir()
    before = filled(folder / "llm-cache.sqlite")
    folder.chmod(mode)
    try:
        told: list[str] = []
        cache = CallCache(folder / "llm-cache.sqlite", warn=told.append)
        cache.put("x", {}, {"text": "x"})
        cache.close()
    finally:
        folder.chmod(0o755)
    assert cache.problem and len(told) == 1
    assert (folder / "llm-cache.sqlite").read_bytes() == before and os.listdir(folder) == ["llm-cache.sqlite"]


def test_only_a_damaged_or_foreign_file_counts_as_damaged(tmp_path):
    def error(code: int, name: str) -> sqlite3.DatabaseError:
        exc = sqlite3.OperationalError(name)
        exc.sqlite_errorcode, exc.sqlite_errorname = code, name
        return exc

    assert is_damaged(error(26, "SQLITE_NOTADB")) and is_damaged(error(11, "SQLITE_CORRUPT"))
    assert is_damaged(error(11 | (1 << 8), "SQLITE_CORRUPT_VTAB"))
    for code, name in ((13, "SQLITE_FULL"), (5, "SQLITE_BUSY"), (8, "SQLITE_READONLY"), (14, "SQLITE_CANTOPEN")):
        assert not is_damaged(error(code, name))
    assert not is_damaged(sqlite3.DatabaseError("no code"))
