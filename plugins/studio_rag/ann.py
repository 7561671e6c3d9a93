"""The approximate vector index (USearch HNSW) beside a collection's SQLite file.

It is a cache: ``<collection>.usearch`` plus ``<collection>.usearch.json`` recording the
collection generation it was built from. When the collection moved on, or either file is
missing or unreadable, it is rebuilt from the vectors in SQLite — nothing is lost with it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .store import SQLiteStore

CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 160  # recall@10 0.999 at 384 and 1.8 ms on 100k real MiniLM vectors (BENCHMARKS.md)


class ApproximateIndex:
    def __init__(self, store: SQLiteStore):
        self.store = store
        self.path = store.path.with_name(store.path.name + ".usearch")
        self.stamp = self.path.with_name(self.path.name + ".json")
        self.index: Any = None  # a usearch Index once built or loaded (usearch has no type information)
        self.generation = -1

    def ensure(self) -> None:
        generation = self.store.generation()
        if self.index is not None and self.generation == generation:
            return
        from usearch.index import Index

        dim = int(self.store.meta()["dim"])
        index = Index(
            ndim=dim,
            metric="ip",
            dtype="f32",
            connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD,
            expansion_search=EXPANSION_SEARCH,
        )
        try:
            if json.loads(self.stamp.read_text())["generation"] == generation:
                index.load(str(self.path))
                self.index, self.generation = index, generation
                return
        except (OSError, ValueError, KeyError, RuntimeError):
            pass  # missing, stale or damaged: rebuild
        ids, matrix = self.store.vectors()
        if len(ids):
            index.add(ids.astype(np.uint64), matrix)
        self.index, self.generation = index, generation
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            index.save(str(tmp))
            tmp.replace(self.path)
            self.stamp.write_text(json.dumps({"generation": generation, "chunks": len(ids)}))
        except (OSError, RuntimeError):  # a full or read-only disk: searched from memory, saved another time
            for partial in (tmp, self.stamp):  # a stamp half written says nothing; the index is rebuilt next time
                try:
                    partial.unlink(missing_ok=True)
                except OSError:
                    pass

    def search(self, query_vector: np.ndarray, limit: int) -> list[tuple[int, float]]:
        self.ensure()
        if self.index is None or len(self.index) == 0:
            return []
        matches = self.index.search(np.asarray(query_vector, np.float32), limit)
        pairs = zip(matches.keys, matches.distances, strict=True)
        return [(int(key), 1.0 - float(distance)) for key, distance in pairs]
