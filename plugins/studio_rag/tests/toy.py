"""Small stand-ins the RAG tests name by reference (spawned workers import them): a
hashed bag-of-words embedder (deterministic, no model download, words in common make
vectors close), a slow one (to kill mid-run) and a parser that hangs on demand."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

DIM = 64


class HashEmbedder:
    spec = "python:studio_rag.tests.toy:embedder"
    dim = DIM
    max_tokens = 256
    delay = 0.0

    def encode(self, texts: list[str]) -> np.ndarray:
        if self.delay:
            time.sleep(self.delay)
        out = np.zeros((len(texts), DIM), np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0
        out[:, 0] += 1e-3  # no all-zero rows
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class SlowEmbedder(HashEmbedder):
    spec = "python:studio_rag.tests.toy:slow_embedder"
    delay = 0.3


def embedder() -> HashEmbedder:
    return HashEmbedder()


def slow_embedder() -> SlowEmbedder:
    return SlowEmbedder()


class InlineParser:
    """``index.Parser`` without its helper process: parses in this one, for tests that only
    need a small collection (starting the helper is most of a one-second index)."""

    def __init__(self, spec: str = HashEmbedder.spec, options: Any = None):
        from studio_rag import index

        self.options = options or index.IndexOptions()
        index._init_worker(spec, self.options.parser)  # what the helper process does first
        self.pending: deque[tuple[Path, Any]] = deque()

    def submit(self, path: Path) -> None:
        from studio_rag.index import parse_and_chunk

        o = self.options
        self.pending.append((path, parse_and_chunk(str(path), o.chunk_size, o.overlap, o.max_bytes)))

    def next(self) -> tuple[Path, Any]:
        return self.pending.popleft()

    def drop_pending(self) -> None:
        self.pending.clear()

    def close(self) -> None:
        self.pending.clear()


def hanging_parser(path: Path, max_bytes: int):
    """Hangs on files named hang.txt (as a parser stuck on a bad PDF would); parses the rest."""
    from studio_rag.parse import parse_file

    if Path(path).name == "hang.txt":
        time.sleep(3600)
    if Path(path).name == "crash.txt":
        os._exit(3)  # the helper process dies
    return parse_file(path, max_bytes)


def surrogate_parser(path: Path, max_bytes: int):
    """A parser that slips a lone surrogate into its text (as a damaged PDF string can)."""
    from studio_rag.parse import Section, parse_file

    if Path(path).name == "odd.txt":
        return [Section("broken \udce9 string in a page", "head \udcff")]
    return parse_file(path, max_bytes)


def buggy_parser(path: Path, max_bytes: int):
    """A parser with a bug on files named buggy.txt: a real failure, not a skipped file."""
    from studio_rag.parse import parse_file

    if Path(path).name == "buggy.txt":
        raise KeyError("page")
    return parse_file(path, max_bytes)


def foreign_database(path: Path) -> bytes:
    """Another program's SQLite file at ``path`` (one ``users`` table); its bytes, to check
    later that nothing touched it."""
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (name TEXT)")
    db.commit()
    db.close()
    return path.read_bytes()


def not_a_folder(kind: str, path: Path) -> None:
    """Put something other than a folder at ``path``: a file, a dangling link, a link
    loop or a pipe (the ways a plugin's folder can be there and not be one)."""
    if kind == "file":
        path.write_text("not a folder")
    elif kind == "dangling link":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "link loop":
        path.symlink_to(path.name)
    elif kind == "pipe":
        os.mkfifo(path)


NOT_A_FOLDER = ("file", "dangling link", "link loop", "pipe")
