"""RAG indexer benchmarks (issue 7), each against a baseline measured in the same run.

1. Indexing throughput — baseline: the raw ``encode`` of the same chunks by the same
   model at the same batch size (the indexer's parsing, chunking and SQLite writes should
   hide behind the embedding).
2. Search latency on 100,000 chunks — hybrid with exact vectors and with the approximate
   index; recall@10 of the approximate index against exact.
3. Re-indexing after one of 1,000 files changed — against that file's embedding time.
4. Retrieval quality on a labelled query set from a real collection nobody here wrote:
   the Python standard library's documentation. Each query is a function's or class's
   docstring summary line, withheld from the indexed text; its relevant chunks are those of
   that section. Recall@5 and MRR for vector, keyword and hybrid; and how much the int8
   and bf16 embedders change them.

    python benchmarks/rag.py [--quick]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from studio_rag.ann import ApproximateIndex  # noqa: E402
from studio_rag.chunk import Chunk  # noqa: E402
from studio_rag.collection_files import open_for_indexing  # noqa: E402
from studio_rag.embedder import open_embedder  # noqa: E402
from studio_rag.index import IndexOptions, Parser, index_sources  # noqa: E402
from studio_rag.sample import MODULES, _signature  # noqa: E402
from studio_rag.search import Searcher  # noqa: E402
from studio_rag.store import Source  # noqa: E402

# --------------------------------------------------------------------------- the labelled corpus


def labelled_corpus(folder: Path, max_queries: int) -> list[dict]:
    """One Markdown file per module, a section per documented function or class whose
    docstring has a summary line and a body; the summary is withheld and becomes a query."""
    import importlib
    import warnings

    folder.mkdir(parents=True, exist_ok=True)
    queries = []
    for name in MODULES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
        lines = [f"# {name}", "", inspect.getdoc(module) or "", ""]
        for attr in sorted(set(getattr(module, "__all__", None) or dir(module))):
            obj = getattr(module, attr, None)
            if attr.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            doc = inspect.getdoc(obj) or ""
            summary, _, body = doc.partition("\n\n")
            summary = " ".join(summary.split())
            if len(summary.split()) < 5 or len(body.split()) < 25:
                continue
            heading = f"{name}.{attr}{_signature(obj)}"
            lines += [f"## {heading}", "", body, ""]
            queries.append({"query": summary, "heading": f"{name} › {heading}"})
        (folder / f"{name}.md").write_text("\n".join(lines), encoding="utf-8")
    random.Random(0).shuffle(queries)
    seen, unique = set(), []
    for q in queries:  # summaries shared by several sections (inherited docs) are ambiguous: drop them
        if q["query"] not in seen:
            seen.add(q["query"])
            unique.append(q)
    return unique[:max_queries]


def quality(searcher: Searcher, queries: list[dict]) -> dict:
    out = {}
    for mode in ("vector", "keyword", "hybrid"):
        recall, rr = [], []
        for q in queries:
            hits = searcher.search(q["query"], k=10, mode=mode)
            ranks = [i for i, h in enumerate(hits, 1) if h.heading == q["heading"]]
            recall.append(1.0 if ranks and ranks[0] <= 5 else 0.0)
            rr.append(1.0 / ranks[0] if ranks else 0.0)
        out[mode] = {"recall@5": statistics.mean(recall), "mrr@10": statistics.mean(rr)}
    return out


# --------------------------------------------------------------------------- 1 and 4


def index_and_quality(work: Path, queries_n: int, batch_size: int) -> dict:
    corpus = work / "stdlib-docs"
    queries = labelled_corpus(corpus, queries_n)
    results: dict = {"queries": len(queries)}
    from studio_rag.sample import write_sample_sources

    sample = write_sample_sources(work / "python-docs")  # the sample collection: a larger corpus for throughput
    for precision in ("fp32", "int8", "bf16"):
        embedder = open_embedder("minilm", precision, batch_size)
        embedder.encode(["warm up the model"] * batch_size)
        results[precision] = {}
        if precision == "fp32":
            store = open_for_indexing(work / "sample.rag.sqlite", embedder, 200, 30)
            report = index_sources(store, [sample], embedder)
            texts = [r[0] for r in store.db.execute("SELECT text FROM chunks ORDER BY id")]
            store.close()
            t0 = time.perf_counter()
            embedder.encode(texts)
            raw = len(texts) / (time.perf_counter() - t0)
            indexing = report.chunks / report.seconds
            results[precision] = {
                "chunks": report.chunks,
                "files": report.indexed,
                "indexing_chunks_per_s": indexing,
                "raw_encode_chunks_per_s": raw,
                "ratio": indexing / raw,
                "embedding_share": report.embed_seconds / report.seconds,
            }
        store = open_for_indexing(work / f"docs-{precision}.rag.sqlite", embedder, 200, 30)
        index_sources(store, [corpus], embedder)
        texts = [r[0] for r in store.db.execute("SELECT text FROM chunks ORDER BY id")]
        searcher = Searcher(store, lambda q, e=embedder: e.encode([q])[0])
        results[precision]["quality"] = quality(searcher, queries)
        if precision == "fp32":
            reference = embedder.encode(texts[:512])
        else:
            cosine = (reference * embedder.encode(texts[:512])).sum(axis=1)
            results[precision]["cosine_to_fp32"] = {"mean": float(cosine.mean()), "min": float(cosine.min())}
        results[precision]["query_encode_ms"] = _median_ms(
            lambda embedder=embedder: embedder.encode([queries[0]["query"]]), 30
        )
        store.close()
    return results


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


# --------------------------------------------------------------------------- 2


def search_at_scale(work: Path, n_chunks: int, data: Path, n_queries: int) -> dict:
    """100k chunks of real text — consecutive, non-overlapping 60-word windows over tiny
    Shakespeare and the Python sources installed on this machine (the standard library,
    then site-packages) — with their real MiniLM vectors (bf16 to embed
    them faster: cosine 1.0000 to fp32). Overlapping windows would make near-duplicate
    chains whose order no index can recover. Embedding 100k chunks takes minutes, so the
    vectors are cached in benchmarks/.cache keyed by the texts' hash."""
    import hashlib

    import numpy as np

    embedder = open_embedder("minilm")
    queries = labelled_corpus(work / "stdlib-docs", n_queries)
    texts = list(_windows(data, n_chunks))
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    cache = ROOT / "benchmarks" / ".cache" / f"minilm-bf16-{n_chunks}-{key}.npy"
    if cache.exists():
        vectors = np.load(cache)
    else:
        print(f"embedding {n_chunks:,} chunks once (cached in {cache.parent})…", file=sys.stderr)
        vectors = open_embedder("minilm", "bf16", 64).encode(texts)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
    store = open_for_indexing(work / "big.rag.sqlite", embedder, 60, 0)
    t0 = time.perf_counter()
    per_doc = 100
    for start in range(0, n_chunks, per_doc * 50):
        store.write_documents(
            [
                (
                    Source(f"/big/doc{d}.txt", str(d)),
                    [Chunk(texts[i], 0, len(texts[i]), line=1) for i in range(d * per_doc, (d + 1) * per_doc)],
                    vectors[d * per_doc : (d + 1) * per_doc],
                )
                for d in range(start // per_doc, min(n_chunks, start + per_doc * 50) // per_doc)
            ]
        )
    build_s = time.perf_counter() - t0
    query_vectors = embedder.encode([q["query"] for q in queries])
    ann = ApproximateIndex(store)
    t0 = time.perf_counter()
    ann.ensure()
    ann_build_s = time.perf_counter() - t0
    store.vectors()  # load the matrix once, as a long-running searcher would
    results = {"chunks": store.count(), "write_s": build_s, "ann_build_s": ann_build_s}
    for label, approximate in (("exact", False), ("approximate", True)):
        times = []
        for q, v in zip(queries, query_vectors, strict=False):
            searcher = Searcher(store, lambda _q, v=v: v, ann)
            t0 = time.perf_counter()
            searcher.search(q["query"], k=10, mode="hybrid", approximate=approximate)
            times.append(time.perf_counter() - t0)
        results[f"hybrid_{label}_p50_ms"] = statistics.median(times) * 1000
        results[f"hybrid_{label}_p95_ms"] = sorted(times)[int(0.95 * len(times))] * 1000
    for label, approximate in (("exact", False), ("approximate", True)):
        times = []
        searcher = Searcher(store, None, ann)
        for v in query_vectors:
            t0 = time.perf_counter()
            searcher._vector(v, 10, None, approximate)
            times.append(time.perf_counter() - t0)
        results[f"vector_{label}_p50_ms"] = statistics.median(times) * 1000
    keyword = []
    for q in queries:
        t0 = time.perf_counter()
        store.keyword(q["query"], 50)
        keyword.append(time.perf_counter() - t0)
    results["keyword_p50_ms"] = statistics.median(keyword) * 1000
    searcher = Searcher(store, None, ann)
    overlap = [
        len({i for i, _ in searcher._vector(v, 10, None, False)} & {i for i, _ in ann.search(v, 10)}) / 10
        for v in query_vectors
    ]
    results["ann_recall@10"] = statistics.mean(overlap)
    store.close()
    return results


def _windows(data: Path, n: int):
    import sysconfig

    files = [data] if data.exists() else []
    for key in ("stdlib", "purelib"):
        files += sorted(
            p
            for p in Path(sysconfig.get_paths()[key]).rglob("*.py")
            if "test" not in p.parts and (key == "purelib" or "site-packages" not in p.parts)
        )
    count = 0
    for path in files:
        try:
            words = path.read_text(encoding="utf-8", errors="ignore").split()
        except OSError:
            continue
        for start in range(0, len(words) - 59, 60):
            yield " ".join(words[start : start + 60])
            count += 1
            if count == n:
                return


# --------------------------------------------------------------------------- 3


def reindex_one_of_many(work: Path, data: Path, files: int) -> dict:
    folder = work / "thousand"
    folder.mkdir()
    text = data.read_text(encoding="utf-8") if data.exists() else "To be or not to be. " * 20000
    size = max(400, len(text) // files)
    for i in range(files):
        (folder / f"part{i:04}.txt").write_text(text[i * size : (i + 1) * size] or f"file {i}")
    embedder = open_embedder("minilm")
    store = open_for_indexing(work / "thousand.rag.sqlite", embedder, 200, 30)
    t0 = time.perf_counter()
    first = index_sources(store, [folder], embedder)
    first_s = time.perf_counter() - t0
    changed = folder / f"part{files // 2:04}.txt"
    changed.write_text(changed.read_text() + "\n\nA new paragraph about the weather in the kingdom of Denmark.\n")
    t0 = time.perf_counter()
    report = index_sources(store, [folder], embedder)  # a fresh parse helper, as `rag index` runs
    once_s = time.perf_counter() - t0
    chunks = [c.text for c in store.chunks_of(str(changed.resolve()))]
    embed_s = _median_ms(lambda: embedder.encode(chunks), 5) / 1000
    parser = Parser(embedder.spec, IndexOptions())  # watch mode: the helper stays up between passes
    index_sources(store, [folder], embedder, parser=parser)
    changed.write_text(changed.read_text() + "\nAnd one more line.\n")
    t0 = time.perf_counter()
    watched = index_sources(store, [folder], embedder, parser=parser)
    watch_s = time.perf_counter() - t0
    parser.close()
    store.close()
    return {
        "files": first.files,
        "first_index_s": first_s,
        "first_chunks": first.chunks,
        "reindex_s": once_s,
        "reindexed": report.indexed,
        "file_embed_s": embed_s,
        "reindex_overhead_s": once_s - embed_s,
        "watch_reindex_s": watch_s,
        "watch_overhead_s": watch_s - embed_s,
        "watch_reindexed": watched.indexed,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "tinyshakespeare.txt")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--parts", default="indexing,search,reindex", help="comma-separated: indexing, search, reindex")
    args = parser.parse_args(argv)
    parts = {p.strip() for p in args.parts.split(",")}
    work = Path(tempfile.mkdtemp(prefix="ts-rag-bench-"))
    results: dict = {}
    try:
        if "indexing" in parts:
            results["indexing_and_quality"] = index_and_quality(work, 60 if args.quick else 300, args.batch_size)
        if "search" in parts:
            results["search"] = search_at_scale(
                work, 10_000 if args.quick else args.chunks, args.data, 50 if args.quick else 200
            )
        if "reindex" in parts:
            results["reindex"] = reindex_one_of_many(work, args.data, 100 if args.quick else 1000)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results)
    return results


def report(r: dict) -> None:
    rows = []
    if "indexing_and_quality" in r:
        rows += _indexing_rows(r["indexing_and_quality"])
    if "search" in r:
        rows += _search_rows(r["search"])
    if "reindex" in r:
        rows += _reindex_rows(r["reindex"])
    print(f"\n{'RAG benchmark':<52} {'result':<26} {'baseline / detail':<60} target")
    for row in rows:
        print(f"{row[0]:<52} {row[1]:<26} {row[2]:<60} {row[3]}")
    print(json.dumps(r, indent=1, default=float))


def _indexing_rows(iq: dict) -> list[tuple]:
    x = iq["fp32"]
    rows = [
        (
            f"indexing {x['chunks']} chunks: chunks/s (raw encode)",
            f"{x['indexing_chunks_per_s']:.1f} ({x['raw_encode_chunks_per_s']:.1f})",
            f"{x['ratio']:.3f}x raw encode; embedding {x['embedding_share']:.0%} of the time",
            ">= 0.9x",
        )
    ]
    for p in ("fp32", "int8", "bf16"):
        q = iq[p]["quality"]
        cos = iq[p].get("cosine_to_fp32")
        rows.append(
            (
                f"quality {p}: recall@5 vector / keyword / hybrid",
                " / ".join(f"{q[m]['recall@5']:.3f}" for m in ("vector", "keyword", "hybrid")),
                "MRR "
                + " / ".join(f"{q[m]['mrr@10']:.3f}" for m in ("vector", "keyword", "hybrid"))
                + (f"; cos to fp32 {cos['mean']:.4f} (min {cos['min']:.4f})" if cos else ""),
                f"{iq['queries']} queries",
            )
        )
    rows.append(
        (
            "query embedding (fp32 / int8 / bf16)",
            " / ".join(f"{iq[p]['query_encode_ms']:.1f}" for p in ("fp32", "int8", "bf16")) + " ms",
            "",
            "report",
        )
    )
    return rows


def _search_rows(s: dict) -> list[tuple]:
    rows = []
    rows.append(
        (
            f"{s['chunks']:,} chunks: hybrid exact p50 (p95)",
            f"{s['hybrid_exact_p50_ms']:.2f} ({s['hybrid_exact_p95_ms']:.2f}) ms",
            f"vector {s['vector_exact_p50_ms']:.2f} + keyword {s['keyword_p50_ms']:.2f} ms",
            "<= 15 ms",
        )
    )
    rows.append(
        (
            f"{s['chunks']:,} chunks: hybrid approximate p50 (p95)",
            f"{s['hybrid_approximate_p50_ms']:.2f} ({s['hybrid_approximate_p95_ms']:.2f}) ms",
            f"vector {s['vector_approximate_p50_ms']:.2f} ms; recall@10 {s['ann_recall@10']:.3f}",
            "<= 5 ms, recall >= 0.95",
        )
    )
    return rows


def _reindex_rows(ri: dict) -> list[tuple]:
    rows = []
    rows.append(
        (
            f"re-index 1 of {ri['files']} files (rag index)",
            f"{ri['reindex_s']:.2f} s",
            f"its embedding {ri['file_embed_s']:.3f} s; overhead {ri['reindex_overhead_s']:.2f} s",
            "<= 2 s + embedding",
        )
    )
    rows.append(
        (
            f"re-index 1 of {ri['files']} files (watch mode)",
            f"{ri['watch_reindex_s']:.2f} s",
            f"overhead {ri['watch_overhead_s']:.2f} s",
            "<= 2 s + embedding",
        )
    )
    return rows


if __name__ == "__main__":
    main()
