"""A collection: one SQLite file that is the source of truth.

Tables: ``meta`` (embedder, dimensions, chunking), ``documents`` (path, content hash,
status, error), ``chunks`` (text, place, vector as float32 bytes) and ``chunks_fts`` (FTS5,
BM25 keyword search, kept in step by triggers). The file is in WAL mode and every
document is written in one transaction — its old chunks out, its new chunks in — so a
killed indexer leaves each document either wholly old or wholly new, and the collection
is always searchable. ``generation`` counts changes; in-memory vector matrices and the
approximate index on disk are rebuilt from the SQLite file when it moved on.

``Store`` is the interface the indexer and search use; ``SQLiteStore`` is this
implementation (a server-scale backend would implement the same methods).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import numpy as np

from studio.api import StudioFileError

from .chunk import Chunk
from .doc_keys import safe_text

SCHEMA_VERSION = 1
SUFFIX = ".rag.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL DEFAULT 0,  -- with size: an unchanged file is not even hashed
    status TEXT NOT NULL,          -- indexed | skipped (with the reason) | failed (a parser crashed)
    error TEXT NOT NULL DEFAULT '',
    chunks INTEGER NOT NULL DEFAULT 0,
    indexed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    text TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    line INTEGER NOT NULL,
    page INTEGER,
    heading TEXT NOT NULL DEFAULT '',
    tokens INTEGER NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, heading, content='chunks', content_rowid='id', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text, heading) VALUES ('delete', old.id, old.text, old.heading);
END;
"""


class StoreError(StudioFileError):
    """A collection file that cannot be opened or does not fit the request."""


class NotACollection(StoreError):
    """Another program's file (an SQLite database with other tables): never replaced."""


class DamagedCollection(StoreError):
    """A collection SQLite cannot read (damaged pages, missing tables or metadata, empty)."""


class DiskError(StoreError):
    """The disk, not the collection: full, failing, read-only or not permitted."""


# SQLite's primary result codes that say the disk or the permissions failed, not the file's content
_DISK_CODES = {
    3: "SQLITE_PERM",
    5: "SQLITE_BUSY",
    6: "SQLITE_LOCKED",
    7: "SQLITE_NOMEM",
    8: "SQLITE_READONLY",
    10: "SQLITE_IOERR",
    13: "SQLITE_FULL",
    14: "SQLITE_CANTOPEN",
    15: "SQLITE_PROTOCOL",
}
_DISK_WORDS = (
    "disk i/o error",
    "database or disk is full",
    "unable to open",
    "readonly",
    "read-only",
    "database is locked",
    "out of memory",
    "no space left",
)


def disk_problem(exc: Exception) -> bool:
    """Whether an SQLite error comes from the disk (full, I/O, permissions, locks)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _DISK_CODES
    return isinstance(exc, OSError) or any(word in str(exc).lower() for word in _DISK_WORDS)


def disk_full(path: Path, exc: Exception | None = None) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if (isinstance(code, int) and code & 0xFF == 13) or "disk is full" in str(exc) or "No space left" in str(exc):
        return True
    import shutil

    folder = Path(path).parent
    try:
        return shutil.disk_usage(folder if folder.exists() else ".").free < 64 * 1024
    except OSError:
        return False


def os_problem(exc: OSError, doing: str = "read") -> DiskError:
    """A file-system error said in one line: ``cannot read /ws/rag: permission denied``."""
    where = safe_text(os.fsdecode(exc.filename)) if exc.filename is not None else "a file"
    reason = (exc.strerror or type(exc).__name__).lower()
    return DiskError(f"cannot {doing} {where}: {reason}")


def check_folder(folder: Path, doing: str = "read") -> None:
    """Refuse a folder that is something else (a file, a dangling or looping link, a pipe)
    or cannot be listed; a folder that does not exist yet passes (it is made when written)."""
    folder = Path(folder)
    try:
        if not os.path.lexists(folder):
            return
        if not folder.is_dir():
            raise StoreError(f"{safe_text(str(folder))} is not a folder; move it away so the studio can use that name")
        with os.scandir(folder) as entries:
            next(entries, None)
    except OSError as exc:
        raise os_problem(exc, doing) from None


def named_as_collection(path: Path) -> bool:
    """A file whose name says it is a collection (``--rebuild`` may move it aside when damaged)."""
    return Path(path).name.endswith(SUFFIX)


def unreadable(path: Path, exc: Exception) -> StoreError:
    """The error for a collection file SQLite cannot read: the disk (full, failing,
    read-only) said plainly, with nothing to rebuild; or a damaged file, left as it is."""
    where = safe_text(str(path))
    if disk_problem(exc):
        if disk_full(path, exc):
            return DiskError(
                f"{where}: cannot be read or written: the disk is full (free some space and try "
                "again; the collection was left as it is)"
            )
        return DiskError(
            f"{where}: cannot be read ({safe_text(str(exc))}): a problem with the disk or the file's "
            "permissions, not with the collection, which was left as it is"
        )
    how = (
        "start it afresh with --rebuild, which keeps the damaged file beside it as .damaged-<time>"
        if named_as_collection(path)
        else "index into a new collection"
    )
    return DamagedCollection(f"{where}: not a readable collection ({safe_text(str(exc))}); it was left as it is: {how}")


TABLES = ("meta", "documents", "chunks", "chunks_fts")


@dataclass(frozen=True)
class Source:
    """A file as the collection knows it: its content hash decides what is unchanged."""

    path: str
    hash: str
    size: int = 0
    mtime: float = 0.0


@dataclass
class ChunkRow:
    id: int
    path: str
    text: str
    start: int
    end: int
    line: int
    page: int | None
    heading: str


class Store(Protocol):
    def meta(self) -> dict[str, Any]: ...
    def documents(self) -> dict[str, dict[str, Any]]: ...
    def write_documents(self, docs: list[tuple[Source, list[Chunk], np.ndarray]]) -> None: ...
    def write_failure(self, source: Source, error: str, status: str = "skipped") -> None: ...
    def remove_documents(self, paths: Iterable[str]) -> None: ...
    def vectors(self) -> tuple[np.ndarray, np.ndarray]: ...
    def keyword(self, query: str, limit: int) -> list[tuple[int, float]]: ...
    def chunks(self, ids: list[int]) -> list[ChunkRow]: ...


class SQLiteStore:
    def __init__(self, path: Path, create_with: dict[str, Any] | None = None, read_only: bool = False):
        """Open ``path``; with ``create_with`` (embedder spec, dim…) a missing file is created.
        ``read_only`` (search, status) writes nothing: no journal-mode change, no upgrade, and
        on a full or read-only disk, where SQLite cannot make its shared-memory file, the
        file is read as it stands (SQLite's ``immutable``) when no write-ahead log is pending."""
        self.path = Path(path)
        self.read_only = read_only
        self.db: sqlite3.Connection  # set once connected (_close_quietly copes with its absence)
        where = safe_text(str(self.path))
        try:
            existing = self._check_path(create_with is not None)
        except OSError as exc:  # a folder that cannot be read or made (permissions, a full disk)
            raise os_problem(exc, "read" if create_with is None else "write") from None
        try:
            self.db = (
                self._open_for_reading()
                if read_only
                else sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
            )
            if existing:  # checked before anything is written: another program's database stays untouched
                stored = self.meta()
                if stored:
                    self._check(stored)
                else:
                    self._check_tables()
            if not read_only:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.execute("PRAGMA foreign_keys=ON")
                if create_with is not None:
                    self.db.executescript(SCHEMA)  # every statement is IF NOT EXISTS
            stored = self.meta()
        except (sqlite3.DatabaseError, ValueError, TypeError) as exc:  # ValueError: meta that is not JSON
            self._close_quietly()
            raise unreadable(self.path, exc) from None
        except StoreError:
            self._close_quietly()
            raise
        if not stored:
            if create_with is None:
                self._close_quietly()
                raise DamagedCollection(
                    f"{where}: not a collection ({'no metadata' if existing else 'an empty file'})"
                    "; it was left as it is"
                )
            with self.transaction():
                for key, value in {
                    **create_with,
                    "schema": SCHEMA_VERSION,
                    "generation": 0,
                    "skipped_status": True,
                }.items():
                    self.db.execute("INSERT INTO meta VALUES (?, ?)", (key, json.dumps(value)))
        elif stored.get("schema") != SCHEMA_VERSION:
            self._close_quietly()
            raise StoreError(f"{where}: collection format {stored.get('schema')}; this studio reads {SCHEMA_VERSION}")
        elif not read_only:
            self._upgrade()
        self._doc_columns = {row[1] for row in self.db.execute("PRAGMA table_info(documents)")}
        self._matrix: tuple[int, np.ndarray, np.ndarray] | None = None
        self._term_tables = False

    def _check_path(self, create: bool) -> bool:
        """Whether the file exists with something in it; a missing one is refused unless
        ``create`` (its folder is made then), and so is a folder that is something else."""
        where = safe_text(str(self.path))
        if not self.path.exists():
            check_folder(self.path.parent, "read" if not create else "write")
            if not create:
                raise StoreError(f"{where}: no such collection")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return False
        if not self.path.is_file():
            raise NotACollection(f"{where}: not a collection file (a folder, pipe or device); it was left as it is")
        return self.path.stat().st_size > 0

    def _open_for_reading(self) -> sqlite3.Connection:
        """A connection that writes nothing (no store method that writes is called on it; SQLite's
        query_only would refuse the keyword search's temporary tables too). An ordinary one, so that the last
        reader to close removes the ``-wal`` / ``-shm`` files SQLite makes beside the file;
        when those cannot be made (a full or read-only disk) and no log is pending, the file
        is opened ``immutable``: read as it stands, without locks or files beside it."""
        side = [Path(f"{self.path}{suffix}") for suffix in ("-wal", "-shm")]
        before = [p.exists() for p in side]
        db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA temp_store=MEMORY")  # the keyword search's scratch tables
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.DatabaseError as exc:
            db.close()
            if not disk_problem(exc):
                raise
            wal = side[0]
            if wal.exists() and wal.stat().st_size > 0:  # a log pending: the file alone is not the collection
                raise
            for made, existed in zip(side, before, strict=True):  # what this attempt left (no writer: the log is empty)
                try:
                    if not existed:
                        made.unlink(missing_ok=True)
                except OSError:
                    pass
        uri = f"file:{quote(os.fsencode(str(self.path.absolute())))}?mode=ro&immutable=1"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA temp_store=MEMORY")
        return db

    def _close_quietly(self) -> None:
        if getattr(self, "db", None) is not None:
            self.db.close()

    def _check(self, stored: dict[str, Any]) -> None:
        """Tables and metadata a collection has: another SQLite file, or one whose pages
        are damaged, is refused here rather than failing half way through a command."""
        names = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master")}
        missing = [t for t in TABLES if t not in names]
        if missing or not isinstance(stored.get("embedder"), str) or int(stored.get("dim", 0)) <= 0:
            error = DamagedCollection if "schema" in stored or "embedder" in stored else NotACollection
            raise error(
                f"{safe_text(str(self.path))}: an SQLite file but not a collection (no "
                f"{', '.join(missing) or 'embedder and dimensions'}); it was left as it is"
            )
        self.db.execute("SELECT COUNT(*), MAX(path) FROM documents").fetchone()  # reads the table's pages

    def _check_tables(self) -> None:
        """A file without collection metadata: another program's database when none of a
        collection's tables is there (an empty database is fine to start one in)."""
        names = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master")}
        if names and not names & set(TABLES):
            raise NotACollection(
                f"{safe_text(str(self.path))}: an SQLite file but not a collection; it was left as it is"
            )
        if names:
            raise DamagedCollection(
                f"{safe_text(str(self.path))}: a collection without its metadata; it was left as it is"
            )

    def _upgrade(self) -> None:
        """Columns and statuses added since a collection was made (its data is kept)."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(documents)")}
        if "mtime" not in columns:
            self.db.execute("ALTER TABLE documents ADD COLUMN mtime REAL NOT NULL DEFAULT 0")
        if "skipped_status" not in self.meta():
            # every document not indexed was "failed"; only a parser's crash ("KeyError: …") was one
            rows = self.db.execute("SELECT id, error FROM documents WHERE status='failed'").fetchall()
            skipped = [(i,) for i, error in rows if not re.match(r"[A-Za-z_][\w.]*: ", error)]
            try:
                with self.transaction():
                    self.db.executemany("UPDATE documents SET status='skipped' WHERE id=?", skipped)
                    self.db.execute("INSERT OR REPLACE INTO meta VALUES ('skipped_status', 'true')")
            except sqlite3.OperationalError:  # a read-only file: shown as it was stored
                pass

    # ------------------------------------------------------------------ plumbing

    def transaction(self):
        if self.read_only:
            raise StoreError(f"{safe_text(str(self.path))}: opened for reading only")
        return _Transaction(self.db)

    def close(self) -> None:
        self.db.close()

    def meta(self) -> dict[str, Any]:
        try:
            return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return {}
            raise

    def generation(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(json.loads(row[0])) if row else 0

    def _bump(self) -> None:
        self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")

    # ------------------------------------------------------------------ documents

    def documents(self) -> dict[str, dict[str, Any]]:
        mtime = "mtime" if "mtime" in self._doc_columns else "0"  # read-only: a collection not yet upgraded
        rows = self.db.execute(f"SELECT path, hash, size, {mtime}, status, error, chunks, indexed_at FROM documents")
        return {
            r[0]: {
                "hash": r[1],
                "size": r[2],
                "mtime": r[3],
                "status": r[4],
                "error": r[5],
                "chunks": r[6],
                "indexed_at": r[7],
            }
            for r in rows
        }

    def write_documents(self, docs: list[tuple[Source, list[Chunk], np.ndarray]]) -> None:
        """Replace each ``(source, chunks, vectors)`` document, all in one transaction."""
        now = time.time()
        with self.transaction():
            for source, chunks, vectors in docs:
                self._delete(source.path)
                cur = self.db.execute(
                    "INSERT INTO documents(path, hash, size, mtime, status, chunks, indexed_at) VALUES (?,?,?,?,?,?,?)",
                    (source.path, source.hash, source.size, source.mtime, "indexed", len(chunks), now),
                )
                doc_id = cur.lastrowid
                vectors = np.ascontiguousarray(vectors, dtype=np.float32)
                self.db.executemany(
                    "INSERT INTO chunks(doc_id, ord, text, start, end, line, page, heading, tokens, vector) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [
                        (doc_id, i, c.text, c.start, c.end, c.line, c.page, c.heading, c.tokens, vectors[i].tobytes())
                        for i, c in enumerate(chunks)
                    ],
                )
            self._bump()

    def write_failure(self, source: Source, error: str, status: str = "skipped") -> None:
        """A document that is not indexed, with the reason: ``skipped`` when the indexer
        chose to leave it (a garbage PDF, a link loop), ``failed`` when a parser broke."""
        error = safe_text(error)  # a message quoting a file name that is not UTF-8
        with self.transaction():
            self._delete(source.path)
            self.db.execute(
                "INSERT INTO documents(path, hash, size, mtime, status, error, indexed_at) VALUES (?,?,?,?,?,?,?)",
                (source.path, source.hash, source.size, source.mtime, status, error, time.time()),
            )
            self._bump()

    def touch(self, source: Source) -> None:
        """Record a new modification time for content that did not change."""
        with self.transaction():
            self.db.execute("UPDATE documents SET mtime=? WHERE path=?", (source.mtime, source.path))

    def remove_documents(self, paths: Iterable[str]) -> None:
        with self.transaction():
            for path in paths:
                self._delete(path)
            self._bump()

    def _delete(self, path: str) -> None:
        row = self.db.execute("SELECT id FROM documents WHERE path=?", (path,)).fetchone()
        if row:
            self.db.execute("DELETE FROM chunks WHERE doc_id=?", (row[0],))
            self.db.execute("DELETE FROM documents WHERE id=?", (row[0],))

    # ------------------------------------------------------------------ reading

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, unit vectors as an n × dim matrix), cached until the collection changes."""
        generation = self.generation()
        if self._matrix is None or self._matrix[0] != generation:
            dim = int(self.meta()["dim"])
            rows = self.db.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            matrix = (
                np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
                if rows
                else np.zeros((0, dim), np.float32)
            )
            self._matrix = (generation, ids, matrix)
        return self._matrix[1], self._matrix[2]

    def keyword(self, query: str, limit: int) -> list[tuple[int, float]]:
        """BM25 over chunk text and headings: (chunk id, score, higher is better)."""
        words = self._discriminative(query_words(query))
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        rows = self.db.execute(
            "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?",
            (match, limit),
        ).fetchall()
        return [(r[0], -r[1]) for r in rows]

    def _discriminative(self, words: list[str]) -> list[str]:
        """The query words worth scoring: the rarest first, as long as the chunks they match
        add up to at most ``MAX_SCORED_ROWS`` (always the ``MIN_TERMS`` rarest). FTS5 scores
        every chunk that matches any word, so one word found in a third of a 100k-chunk
        collection costs 20 ms while adding little to BM25 (its IDF is low); collections
        smaller than the budget are searched with every word. Frequencies come from FTS5's
        own vocabulary, in its stemmed terms: each word goes through the same tokenizer in
        a temporary table to find its term."""
        if len(words) <= MIN_TERMS:
            return words
        db = self.db
        if not self._term_tables:  # once per connection (temp tables live as long as it)
            db.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_words USING fts5(word, tokenize='porter unicode61')"
            )
            db.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_terms USING fts5vocab(temp, query_words, 'instance')"
            )
            db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunk_terms USING fts5vocab(main, chunks_fts, 'row')")
            self._term_tables = True
        db.execute("DELETE FROM temp.query_words")
        db.executemany("INSERT INTO temp.query_words(rowid, word) VALUES (?, ?)", list(enumerate(words)))
        term_of = dict(db.execute("SELECT doc, term FROM temp.query_terms"))
        terms = sorted(set(term_of.values()))
        marks = ",".join("?" * len(terms))
        frequency = dict(db.execute(f"SELECT term, doc FROM temp.chunk_terms WHERE term IN ({marks})", terms))
        df = [frequency.get(term_of.get(i, ""), 0) for i in range(len(words))]
        kept: list[int] = []
        scored = 0
        for i in sorted(range(len(words)), key=lambda i: df[i]):  # rarest first, within the budget
            if len(kept) >= MIN_TERMS and scored + df[i] > MAX_SCORED_ROWS:
                break
            kept.append(i)
            scored += df[i]
        return [words[i] for i in sorted(kept)]

    def chunks(self, ids: list[int]) -> list[ChunkRow]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT c.id, d.path, c.text, c.start, c.end, c.line, c.page, c.heading FROM chunks c "
            f"JOIN documents d ON d.id = c.doc_id WHERE c.id IN ({marks})",
            ids,
        ).fetchall()
        by_id = {r[0]: ChunkRow(*r) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def chunks_of(self, path: str) -> list[ChunkRow]:
        rows = self.db.execute(
            "SELECT c.id, d.path, c.text, c.start, c.end, c.line, c.page, c.heading FROM chunks c "
            "JOIN documents d ON d.id = c.doc_id WHERE d.path=? ORDER BY c.ord",
            (path,),
        ).fetchall()
        return [ChunkRow(*r) for r in rows]


# English function words, left out of keyword queries (one string reads more easily than a list)
_STOPWORD_TEXT = """a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which while
who whom why will with would you your yours yourself yourselves"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


MAX_SCORED_ROWS = 2000
MIN_TERMS = 2


def query_words(text: str) -> list[str]:
    """The distinct words of a free-text query, stop words left out (they match most
    chunks, add almost nothing to BM25, and make FTS5 score the whole collection)."""
    import re

    words = [w for w in re.findall(r"\w+", text.lower()) if len(w) > 1]
    return list(dict.fromkeys([w for w in words if w not in STOPWORDS] or words))


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
