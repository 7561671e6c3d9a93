"""Search a collection: vector (exact or approximate), keyword (BM25) and hybrid.

Hybrid is reciprocal-rank fusion: each result list gives a chunk ``1 / (60 + rank)`` and the
sums are ranked — no score scales to calibrate. Filters narrow by document path (a glob)
or heading; MMR trades a little relevance for variety among the top results.

``open_searcher`` opens a collection with the embedder it was built with, cached per
process, so a workflow's retriever node loads the model once; an embedder that runs
Python code (or calls a server the file names) opens only when named by whoever runs the
search (``embedder.check_recorded``): the collection file alone never runs code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .ann import ApproximateIndex
from .doc_keys import is_utf8
from .store import ChunkRow, SQLiteStore

RRF_K = 60
MODES = ("hybrid", "vector", "keyword")


@dataclass
class Hit(ChunkRow):
    """A chunk found, with its score (cosine, BM25 or fused) and its rank in each list."""

    score: float = 0.0
    vector_rank: int | None = None
    keyword_rank: int | None = None

    def to_json(self) -> dict:
        return asdict(self)


class Searcher:
    """Search one collection; ``encode_query(text) -> unit vector`` is needed for vector and
    hybrid modes (keyword search needs no model)."""

    def __init__(self, store: SQLiteStore, encode_query: Callable[[str], np.ndarray] | None = None, ann=None):
        self.store, self.encode_query, self.ann = store, encode_query, ann

    def search(
        self,
        query: str,
        k: int = 5,
        mode: str = "hybrid",
        path: str = "",
        heading: str = "",
        mmr: float | None = None,
        approximate: bool = False,
    ) -> list[Hit]:
        if mode not in MODES:
            raise ValueError(f"search mode {mode!r}: choose one of {', '.join(MODES)}")
        if not all(map(is_utf8, (query, path, heading))):  # SQLite and the tokenizer take UTF-8 only
            raise ValueError("the query, path or heading is not valid UTF-8 text")
        if k < 1:
            raise ValueError(f"k is {k}: ask for at least one result")
        if mmr is not None and not 0 <= mmr <= 1:
            raise ValueError(f"mmr is {mmr}: a relevance weight from 0 to 1")
        if not query.strip():
            return []
        allowed = self._allowed(path, heading)
        pool = max(50, 4 * k) if (mode == "hybrid" or mmr is not None or allowed is not None) else k
        vector_ranked: list[int] = []
        keyword_ranked: list[int] = []
        native: list[tuple[int, float]] = []  # the one list's own scores, when the mode is not hybrid
        query_vector = None
        if mode in ("hybrid", "vector"):
            if self.encode_query is None:
                raise ValueError("vector and hybrid search need the collection's embedder")
            query_vector = self.encode_query(query)
            native = self._vector(query_vector, pool, allowed, approximate)
            vector_ranked = [i for i, _ in native]
        if mode in ("hybrid", "keyword"):
            hits = self.store.keyword(query, pool if allowed is None else pool * 4)
            native = [(i, s) for i, s in hits if allowed is None or i in allowed][:pool]
            keyword_ranked = [i for i, _ in native]
        if mode == "hybrid":  # reciprocal-rank fusion
            scores: dict[int, float] = {}
            for ranked in (vector_ranked, keyword_ranked):
                for rank, chunk_id in enumerate(ranked):
                    scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        else:  # one list: its own score (cosine or BM25)
            scores = dict(native)
        ordered = sorted(scores, key=lambda i: -scores[i])
        if mmr is not None and query_vector is not None:
            ordered = self._mmr(query_vector, ordered, k, mmr)
        ordered = ordered[:k]
        vector_rank = {c: r + 1 for r, c in enumerate(vector_ranked)}
        keyword_rank = {c: r + 1 for r, c in enumerate(keyword_ranked)}
        return [
            Hit(
                **vars(row),
                score=scores[row.id],
                vector_rank=vector_rank.get(row.id),
                keyword_rank=keyword_rank.get(row.id),
            )
            for row in self.store.chunks(ordered)
        ]

    def _allowed(self, path: str, heading: str) -> set[int] | None:
        if not path and not heading:
            return None
        rows = self.store.db.execute(
            "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.path GLOB ? AND c.heading LIKE ?",
            (path or "*", f"%{heading}%"),
        )  # GLOB: the shell-style patterns of --path; LIKE: case-insensitive
        return {row[0] for row in rows}

    def _vector(
        self, query_vector: np.ndarray, limit: int, allowed: set[int] | None, approximate: bool
    ) -> list[tuple[int, float]]:
        if approximate and self.ann is not None and allowed is None:
            return self.ann.search(query_vector, limit)
        ids, matrix = self.store.vectors()
        if not len(ids):
            return []
        scores = matrix @ query_vector
        if allowed is not None:
            scores = np.where(np.isin(ids, np.fromiter(allowed, np.int64, len(allowed))), scores, -np.inf)
        limit = min(limit, len(ids))
        top = np.argpartition(-scores, limit - 1)[:limit]
        top = top[np.argsort(-scores[top])]
        return [(int(ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])]

    def _mmr(self, query_vector: np.ndarray, candidates: list[int], k: int, weight: float) -> list[int]:
        """Maximal marginal relevance: ``weight`` × relevance − (1 − ``weight``) × redundancy."""
        ids, matrix = self.store.vectors()
        position = {int(c): i for i, c in enumerate(ids)}
        vectors = matrix[[position[c] for c in candidates]]
        relevance = vectors @ query_vector
        chosen: list[int] = []
        left = list(range(len(candidates)))
        while left and len(chosen) < k:
            redundancy = (vectors[left] @ vectors[chosen].T).max(axis=1) if chosen else np.zeros(len(left))
            best = left[int(np.argmax(weight * relevance[left] - (1 - weight) * redundancy))]
            chosen.append(best)
            left.remove(best)
        return [candidates[i] for i in chosen]


# ---- a collection opened with its own embedder

_lock = threading.Lock()


@lru_cache(maxsize=4)
def _embedder(spec: str, precision: str):
    from .embedder import open_embedder

    return open_embedder(spec, precision)


def query_encoder(spec: str, precision: str = "fp32") -> Callable[[str], np.ndarray]:
    """``encode(text) -> unit vector`` with the embedder ``spec`` (loaded once per process)."""

    def encode(text: str) -> np.ndarray:
        with _lock:  # one model, called from a workflow's concurrent branches
            return _embedder(spec, precision).encode([text])[0]

    return encode


def open_searcher(
    path: Path, need_vectors: bool = True, embedder: str | None = None, how: Callable[[str], str] | None = None
) -> Searcher:
    """Search the collection at ``path``; ``embedder``: the spec the person searching named
    (``--embedder``), which must be the collection's own; ``how(spec)``: how to name it, in
    the refusal of an embedder nobody named (default: ``--embedder SPEC``)."""
    from .collection_files import collection_name
    from .embedder import check_recorded

    store = SQLiteStore(Path(path), read_only=True)
    encode = None
    if need_vectors:  # keyword search opens no embedder
        try:
            meta = store.meta()
            spec = check_recorded(meta.get("embedder"), repr(collection_name(store.path)), embedder, how)
        except Exception:
            store.close()
            raise
        encode = query_encoder(spec, meta.get("precision", "fp32"))
    return Searcher(store, encode, ApproximateIndex(store))
