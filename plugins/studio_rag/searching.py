"""Open a collection for searching with the embedder it was built with (cached per process,
so a workflow's retriever node loads the model once)."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from .ann import ApproximateIndex
from .search import Searcher
from .store import SQLiteStore

_lock = threading.Lock()


@lru_cache(maxsize=4)
def _embedder(spec: str, precision: str):
    from .embedder import open_embedder

    return open_embedder(spec, precision)


def query_encoder(spec: str, precision: str = "fp32"):
    def encode(text: str):
        with _lock:  # one model, called from a workflow's concurrent branches
            return _embedder(spec, precision).encode([text])[0]

    return encode


def open_searcher(path: Path, need_vectors: bool = True) -> Searcher:
    store = SQLiteStore(Path(path), read_only=True)
    meta = store.meta()
    encode = query_encoder(meta["embedder"], meta.get("precision", "fp32")) if need_vectors else None
    return Searcher(store, encode, ApproximateIndex(store))


def encode_query_in_worker(spec: str, precision: str, text: str):
    """In the RAG panel's helper process: one query's vector (the model stays loaded)."""
    return query_encoder(spec, precision)(text)
