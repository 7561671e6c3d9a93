"""Index files and folders into a collection: scan, skip what is unchanged, parse and chunk
in a helper process, embed in batches here, write each document whole.

Why this shape:

* **Resumable, crash-safe** — a document is written (old chunks out, new in) in one SQLite
  transaction after its chunks are embedded; content hashes decide what is unchanged. A
  killed run leaves every document wholly old or wholly new, and the next run picks up the
  rest.
* **One bad file never blocks the rest** — parsing runs in a separate process with a time
  limit per file; a file that cannot be read or overruns is recorded as skipped with the
  reason (a parser that crashes: failed), and the process is replaced.
* **Parsing hidden behind embedding** — the helper parses files ahead while this process
  embeds, so both cores work.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import multiprocessing
import os
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .chunk import Chunk, chunk_sections
from .doc_keys import clean_text, doc_key, is_utf8, safe_text
from .parse import MAX_BYTES, SUFFIXES, ParseError, Section, parse_file
from .store import Source, SQLiteStore, StoreError, check_folder, os_problem
from .wording import plural

if TYPE_CHECKING:
    from .embedder import TokenCounter

DEFAULT_EXCLUDE = (
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    "node_modules",
    ".venv",
    "venv",
    ".tox",
    "*.pyc",
    "*.rag.sqlite*",
    ".ipynb_checkpoints",
)
IN_FLIGHT = 16  # files parsed ahead of the embedder
EMBED_BLOCK = 256  # chunks embedded (and their documents written) together


class IndexingError(StoreError):
    """Indexing cannot start (a missing source, another embedder); nothing was changed."""


@dataclass
class IndexOptions:
    include: list[str] = field(default_factory=lambda: ["*"])
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    chunk_size: int = 200
    overlap: int = 30
    file_timeout: float = 60.0
    max_bytes: int = MAX_BYTES
    parser: str = "studio_rag.parse:parse_file"  # "module:function(path, max_bytes) -> [Section]": your own formats


@dataclass
class IndexReport:
    files: int = 0
    unchanged: int = 0
    indexed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    removed: int = 0
    chunks: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "failed": [{"path": p, "error": e} for p, e in self.failed],
            "chunks_per_s": self.chunks / self.seconds if self.seconds else 0.0,
        }


def scan(root: Path, options: IndexOptions, skipped: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Files under ``root`` (or ``root`` itself) with a known suffix, passing include/exclude.
    Entries that match but cannot be files (a broken link, a link loop, a pipe or device)
    go to ``skipped`` with the reason; folders linked in are not followed (no loops) and
    are listed too, whatever their name: a link silently left out looked like a bug."""
    root = Path(root)
    if root.is_file():
        return [root]
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in options.exclude):
            continue
        if path.is_symlink() and path.is_dir():
            if skipped is not None:
                skipped.append((path, linked_folder(path)))
            continue
        if path.suffix.lower() not in SUFFIXES:
            continue
        rel = relative.as_posix()
        if not any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(path.name, p) for p in options.include):
            continue
        if path.is_file():
            files.append(path)
        elif skipped is not None and not path.is_dir():
            skipped.append((path, not_a_file(path)))
    return files


def linked_folder(path: Path) -> str:
    """Why a link to a folder is listed but not followed (one to a folder above it loops)."""
    try:
        target = path.resolve()
    except (OSError, RuntimeError):
        return "a symbolic link loop (skipped)"
    if path.parent.resolve().is_relative_to(target):
        return "a link to a folder above it (not followed)"
    return "a linked folder (not followed)"


def not_a_file(path: Path) -> str:
    """Why a path that looks like a document cannot be read as one."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (skipped)"
        if path.is_symlink():
            return "a broken symbolic link (skipped)"
        return f"cannot be read ({exc.strerror or exc})"
    return "not a regular file: a pipe, socket or device (skipped)"


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- the helper process

_counter: TokenCounter | None = None  # set by _init_worker in the helper process
_parse = parse_file


def _init_worker(spec: str, parser: str) -> None:
    global _counter, _parse
    from studio.api import resolve

    from .embedder import token_counter

    _counter = token_counter(spec)
    _parse = resolve(parser)


class Failure(str):
    """A reason that is a real failure (a parser's or the chunker's bug), not a file the
    indexer chose to skip: listed as "failed" where skips are listed as "skipped"."""


def parse_and_chunk(path: str, size: int, overlap: int, max_bytes: int) -> list[Chunk] | str:
    """In the helper process: a file's chunks, or the reason it cannot be read (a
    ``Failure`` when the code broke rather than the file)."""
    assert _counter is not None, "the helper process runs _init_worker first"
    try:
        return chunk_sections([_clean(s) for s in _parse(Path(path), max_bytes)], _counter, size, overlap)
    except ParseError as exc:
        return safe_text(str(exc))
    except MemoryError:
        return "too large to parse in the memory available (skipped)"
    except Exception as exc:  # a parser bug must not stop the indexer: report it with the file
        return Failure(safe_text(f"{type(exc).__name__}: {exc}"))


def _clean(section: Section) -> Section:
    """Text SQLite can store: a lone surrogate (a PDF's broken string, a parser's slip)
    becomes ``?``, so offsets hold."""
    if not (is_utf8(section.text) and is_utf8(section.heading)):
        section.text, section.heading = clean_text(section.text), clean_text(section.heading)
    return section


class Parser:
    """Parses files ahead in one spawned process; a file over the time limit is reported
    and the process replaced (its other files are submitted again)."""

    def __init__(self, spec: str, options: IndexOptions):
        self.spec, self.options = spec, options
        self.pool = self._start()
        self.pending: deque[tuple[Path, Any]] = deque()

    def _start(self):
        return multiprocessing.get_context("spawn").Pool(
            1, initializer=_init_worker, initargs=(self.spec, self.options.parser)
        )

    def submit(self, path: Path) -> None:
        o = self.options
        self.pending.append(
            (path, self.pool.apply_async(parse_and_chunk, (str(path), o.chunk_size, o.overlap, o.max_bytes)))
        )

    def next(self) -> tuple[Path, list[Chunk] | str]:
        path, result = self.pending.popleft()
        try:
            return path, result.get(timeout=self.options.file_timeout)
        except multiprocessing.TimeoutError:
            self.pool.terminate()
            self.pool.join()
            self.pool = self._start()
            waiting = [p for p, _ in self.pending]
            self.pending.clear()
            for other in waiting:
                self.submit(other)
            return path, f"parsing took longer than {self.options.file_timeout:g} s (skipped)"

    def drop_pending(self) -> None:
        """Forget files in flight (a cancelled pass); the process stays for the next one."""
        if self.pending:
            self.pool.terminate()
            self.pool.join()
            self.pool = self._start()
            self.pending.clear()

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


# --------------------------------------------------------------------------- indexing


def check_embedder(store: SQLiteStore, embedder) -> None:
    meta = store.meta()
    built = (meta.get("embedder"), int(meta.get("dim", -1)), meta.get("precision", "fp32"))
    wanted = (embedder.spec, embedder.dim, getattr(embedder, "precision", "fp32"))
    if built != wanted:
        raise IndexingError(
            f"{store.path.name} was built with the embedder {built[0]!r} ({built[1]} dims, "
            f"{built[2]}); this run uses {wanted[0]!r} ({wanted[1]} dims, {wanted[2]}). Index into "
            "a new collection, or rebuild this one with --rebuild"
        )


def source_roots(sources: list[Path], store: SQLiteStore | None = None) -> list[Path]:
    """The sources as absolute paths; a missing one stops indexing with what to do (its
    documents, if it had any, stay in the collection)."""
    roots = []
    for source in sources:
        try:
            root = Path(source).expanduser().resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python < 3.13)
            raise IndexingError(f"{doc_key(source)}: a symbolic link loop, not a folder or file") from None
        if not root.exists():
            kept = 0 if store is None else sum(1 for p in store.documents() if Path(p).is_relative_to(doc_key(root)))
            if not kept:
                raise IndexingError(f"no such folder or file: {doc_key(root)}")
            raise IndexingError(
                f"{doc_key(root)}: the source no longer exists; its {plural(kept, 'document')} "
                f"{'stays' if kept == 1 else 'stay'} in the collection (remove "
                f"{'it' if kept == 1 else 'them'} with `tensor-studio rag remove`)"
            )
        if not (root.is_dir() or root.is_file()):
            raise IndexingError(f"{doc_key(root)}: not a folder or a regular file")
        roots.append(root)
    return roots


def check_sources(
    collection: Path, sources: list[Path], rebuild: bool = False, folder: Path | None = None
) -> list[Path]:
    """``source_roots`` before a job starts or a model loads (the collection only read);
    with ``rebuild``, that what would be replaced is a collection (``check_rebuild``;
    ``folder``: the collections folder)."""
    check_folder(Path(collection).parent)  # a file or a link where the folder should be; one not readable
    if rebuild:
        from .collection_files import check_rebuild

        check_rebuild(collection, folder)
    try:
        exists = Path(collection).exists()
    except OSError as exc:
        raise os_problem(exc) from None
    store = SQLiteStore(collection, read_only=True) if exists and not rebuild else None
    try:
        return source_roots(sources, store)
    finally:
        if store is not None:
            store.close()


def index_sources(
    store: SQLiteStore,
    sources: list[Path],
    embedder,
    options: IndexOptions | None = None,
    progress: Callable[[dict[str, Any]], None] = lambda _: None,
    cancelled: Callable[[], bool] = lambda: False,
    parser: Parser | None = None,
) -> IndexReport:
    """Documents are stored under ``doc_key(path)``: the path, or for a file name that is
    not UTF-8, the path with its odd bytes escaped (``doc_keys``)."""
    options = options or IndexOptions()
    check_embedder(store, embedder)
    started = time.perf_counter()
    report = IndexReport()
    roots = source_roots(sources, store)
    skipped: list[tuple[Path, str]] = []
    files = {doc_key(f): f for f in (f.resolve() for root in roots for f in scan(root, options, skipped))}
    report.files = len(files)
    known = store.documents()
    seen = set(files) | {doc_key(p) for p, _ in skipped}
    gone = [p for p in known if p not in seen and any(Path(p).is_relative_to(doc_key(r)) for r in roots)]
    if gone:
        store.remove_documents(gone)
        report.removed = len(gone)
    for path, error in skipped:  # listed once: an entry already recorded with its reason is unchanged
        key = doc_key(path)
        if (known.get(key, {}).get("error"), known.get(key, {}).get("status")) != (error, "skipped"):
            report.failed.append((key, error))
            store.write_failure(Source(key, ""), error)
    todo: list[Source] = []
    for key, f in files.items():
        try:
            stat = f.stat()
            old = known.get(key, {})
            if old.get("size") == stat.st_size and old.get("mtime") == stat.st_mtime:
                report.unchanged += 1  # same size and time: not even hashed
                continue
            source = Source(key, file_hash(f), stat.st_size, stat.st_mtime)
        except OSError as exc:
            error = f"cannot be read ({exc.strerror or exc})"
            report.failed.append((key, error))
            store.write_failure(Source(key, ""), error)
            continue
        if old.get("hash") == source.hash:
            report.unchanged += 1
            store.touch(source)
        else:
            todo.append(source)
    before = len(report.failed)  # skipped while scanning: not among the files to parse
    if todo:
        try:
            _index_files(store, todo, files, embedder, options, report, progress, cancelled, started, parser)
        except sqlite3.OperationalError as exc:
            if "full" not in str(exc).lower():
                raise
            raise IndexingError(
                f"the disk is full ({exc}): indexing stopped after {plural(report.indexed, 'document')}; "
                f"{store.path.name} keeps every document written, and the next run resumes "
                "once there is space"
            ) from None
    report.seconds = time.perf_counter() - started
    progress(_progress(report, len(todo), started, before, final=True))
    return report


def _index_files(store, todo, files, embedder, options, report, progress, cancelled, started, parser=None) -> None:
    own_parser = parser is None
    before = len(report.failed)
    parser = parser or Parser(embedder.spec, options)
    sources = {s.path: s for s in todo}
    queue = deque(files[s.path] for s in todo)
    waiting: list[tuple[Source, list[Chunk]]] = []  # parsed documents not yet embedded
    try:
        while queue or parser.pending or waiting:
            while queue and len(parser.pending) < IN_FLIGHT:
                parser.submit(queue.popleft())
            if parser.pending:
                path, result = parser.next()
                source = sources[doc_key(path)]
                if isinstance(result, str):
                    store.write_failure(source, result, "failed" if isinstance(result, Failure) else "skipped")
                    report.failed.append((source.path, result))
                else:
                    waiting.append((source, result))
            pending_chunks = sum(len(c) for _, c in waiting)
            if waiting and (pending_chunks >= EMBED_BLOCK or not (queue or parser.pending)):
                _embed_and_write(store, embedder, waiting, report)
                waiting = []
                progress(_progress(report, len(todo), started, before))
            if cancelled():
                report.cancelled = True
                return
    finally:
        if own_parser:
            parser.close()
        else:
            parser.drop_pending()


def _embed_and_write(store, embedder, waiting, report) -> None:
    texts = [c.text for _, chunks in waiting for c in chunks]
    t0 = time.perf_counter()
    vectors = embedder.encode(texts) if texts else np.zeros((0, embedder.dim), np.float32)
    report.embed_seconds += time.perf_counter() - t0
    docs, at = [], 0
    for source, chunks in waiting:
        docs.append((source, chunks, vectors[at : at + len(chunks)]))
        at += len(chunks)
    store.write_documents(docs)
    report.indexed += len(waiting)
    report.chunks += len(texts)


def watch(
    store: SQLiteStore,
    sources: list[Path],
    embedder,
    options: IndexOptions | None = None,
    interval: float = 2.0,
    on_pass: Callable[[IndexReport], None] = lambda _: None,
    cancelled: Callable[[], bool] = lambda: False,
) -> None:
    """Re-index what changed every ``interval`` seconds until cancelled; the parse helper
    and the model stay loaded between passes, so a changed file costs its own embedding."""
    options = options or IndexOptions()
    parser = Parser(embedder.spec, options)
    try:
        while not cancelled():
            report = index_sources(store, sources, embedder, options, cancelled=cancelled, parser=parser)
            on_pass(report)
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline and not cancelled():
                time.sleep(0.1)
    finally:
        parser.close()


def _progress(report: IndexReport, total: int, started: float, before: int = 0, final: bool = False) -> dict[str, Any]:
    """Progress through the ``total`` files to parse. ``before`` entries of ``report.failed``
    were skipped while scanning (link loops…): counted in done but not in total, they made
    the Jobs panel show "6/4 files" and a negative ETA."""
    elapsed = time.perf_counter() - started
    done = min(report.indexed + len(report.failed) - before, total)
    rate = report.chunks / elapsed if elapsed else 0.0
    files_rate = done / elapsed if elapsed else 0.0
    eta = max(0.0, (total - done) / files_rate) if files_rate and not final else 0.0
    return {
        "done": done,
        "total": total,
        "chunks": report.chunks,
        "chunks_per_s": rate,
        "eta_s": eta,
        "failed": len(report.failed),
        "final": final,
    }
