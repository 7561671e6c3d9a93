"""The RAG panel's query encoder: one helper process that keeps the embedder loaded.

Why a process of its own and not a job per query (the studio's rule is that work goes
through the job system): a job is a freshly spawned worker every time, and a vector
search needs torch and the model in that worker. Measured with
``benchmarks/rag_query_path.py`` (MiniLM fp32, hybrid, k = 8, a 456-chunk collection; a
2-CPU machine shared with other work; three runs, each figure the median of a run, the
quietest run first and the other two in brackets):

=========================================  ==========================  =============================
path                                       per query                   memory
=========================================  ==========================  =============================
job, submit -> result                      7.6 s (9.3, 13.2)           505 MB peak, none in between
  worker start                             0.2 s (0.4, 0.4)
  import torch + sentence-transformers     5.8 s (6.8, 9.7)
  load the model                           0.2 s (0.4, 0.4)
  encode + search                          0.09 s (0.15, 0.40)
  result back (and the worker's exit)      1.2 s (1.4, 1.8)
helper, first query (starts it)            8.3 s (6.1, 6.3)            505 MB, held while the panel is
helper, each following query               78 ms (156, 87); min 23 ms  open
=========================================  ==========================  =============================

Embedding and searching take about 0.1 s; the other 7 s and more are a new process
importing torch and sentence-transformers, loading the model and exiting, on every query:
more than 20 times the ~300 ms a search box may take. So the panel keeps one warm helper
instead, and only its first query pays the start. Its price is the memory it holds (about
500 MB) until the panel closes. The window still never imports torch (design note 39);
indexing, long work anyway, stays a job.

The spec comes from the collection file, so it is checked as one
(``embedder.check_recorded``): an embedder that runs Python code is refused (a failed
future, which the panel shows as a message) unless this process named it
(``allow_embedder``); the helper starts with the same names, and checks again.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np


def encode_query_in_worker(spec: str, precision: str, text: str) -> np.ndarray:
    """In the helper process: one query's vector (the model stays loaded for the next)."""
    from .embedder import check_recorded
    from .search import query_encoder

    return query_encoder(check_recorded(spec, how=how_to_name), precision)(text)


def how_to_name(spec: str) -> str:
    """The panel cannot name an embedder: the command line can."""
    return (
        f"it runs only if you name it, on the command line: `tensor-studio rag search QUERY -c COLLECTION "
        f"--embedder {spec}`; keyword search works without it"
    )


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
        """``spec``: the collection's recorded embedder; one that nobody named is refused
        here, as a failed future, before any process starts."""
        from .embedder import EmbedderError, allow_embedder, check_recorded, named_embedders

        try:
            check_recorded(spec, how=how_to_name)
        except EmbedderError as exc:
            refused: Future = Future()
            refused.set_exception(exc)
            return refused
        if self.pool is None:
            self.pool = ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=allow_embedder,
                initargs=named_embedders(),
            )
        return self.pool.submit(encode_query_in_worker, spec, precision, text)

    def close(self) -> None:
        """Stop the helper now (a model load in progress must not hold up quitting)."""
        if self.pool is None:
            return
        # ProcessPoolExecutor has no public way to kill its workers; _processes is where it keeps them
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        for process in processes:
            process.kill()
        # then wait for the pool's own thread, which reaps them (two threads waiting on one
        # child race: the loser sees no child and would call it alive); a killed helper goes
        # at once, so this does not hold up quitting
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = None
