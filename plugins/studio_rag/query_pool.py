"""The RAG panel's query encoder: one helper process that keeps the embedder loaded.

MEASUREMENTS_GO_HERE
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np


def encode_query_in_worker(spec: str, precision: str, text: str) -> np.ndarray:
    """In the helper process: one query's vector (the model stays loaded for the next)."""
    from .search import query_encoder

    return query_encoder(spec, precision)(text)


class QueryEncoder:
    """Embeds queries in one spawned helper process, started on the first query; torch is
    imported there, never in the process that owns this object (the studio's window)."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None

    @property
    def warm(self) -> bool:
        """Whether the helper process was started (a first query also loads the model)."""
        return self.pool is not None

    def submit(self, spec: str, precision: str, text: str) -> Future:
        if self.pool is None:
            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return self.pool.submit(encode_query_in_worker, spec, precision, text)

    def close(self) -> None:
        """Stop the helper now (a model load in progress must not hold up quitting)."""
        if self.pool is None:
            return
        # ProcessPoolExecutor has no public way to kill its workers; _processes is where it keeps them
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        for process in processes:
            process.kill()
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.join(timeout=2)  # reaped, not left a zombie
        self.pool = None
