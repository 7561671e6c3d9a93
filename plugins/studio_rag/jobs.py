"""The indexing job: runs in a worker process (torch and the embedder stay out of the GUI);
progress is files, chunks, chunks per second and an ETA."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from studio.api import JobContext, write_json

from .collection_files import collection_path, open_for_indexing, recorded_embedder
from .config import IndexParams, split_patterns
from .index import DEFAULT_EXCLUDE, IndexOptions, IndexReport, check_sources, index_sources, watch
from .store import os_problem, unreadable
from .wording import plural


def index(params: IndexParams, ctx: JobContext) -> dict[str, Any]:
    """The job; a collection file SQLite cannot read, or a file the system refuses, fails
    it with that said, not a traceback."""
    path = collection_path(params.collection, ctx.data_dir)
    try:
        return _index(path, params, ctx)
    except sqlite3.DatabaseError as exc:
        raise unreadable(path, exc) from None
    except OSError as exc:  # a file or folder the system refused (permissions, a full disk): said in one line
        if exc.filename is None:
            raise
        raise os_problem(exc, "use") from None


def _index(path: Path, params: IndexParams, ctx: JobContext) -> dict[str, Any]:
    from .embedder import open_embedder

    check_sources(path, [Path(s) for s in params.sources], params.rebuild, ctx.data_dir)  # before a model loads
    embedder = None if params.rebuild else recorded_embedder(path, params.embedder, params.precision, params.batch_size)
    if embedder is None:
        ctx.progress(0, None, f"loading the embedder {params.embedder}")
        embedder = open_embedder(params.embedder, params.precision, params.batch_size)
    store = open_for_indexing(path, embedder, params.chunk_size, params.overlap, params.rebuild, ctx.data_dir)
    options = IndexOptions(
        include=split_patterns(params.include) or ["*"],
        exclude=list(DEFAULT_EXCLUDE) + split_patterns(params.exclude),
        chunk_size=params.chunk_size,
        overlap=params.overlap,
        file_timeout=params.file_timeout,
    )
    steps = [0]

    def progress(p: dict[str, Any]) -> None:
        ctx.progress(p["done"], p["total"], progress_message(p))
        ctx.metric("chunks_per_s", steps[0], p["chunks_per_s"])
        steps[0] += 1

    sources = [Path(s) for s in params.sources]
    try:
        report = index_sources(store, sources, embedder, options, progress, lambda: ctx.cancelled)
        if params.watch and not ctx.cancelled:
            ctx.log(f"watching {', '.join(map(str, sources))} for changes; cancel the job to stop")
            watch(
                store,
                sources,
                embedder,
                options,
                params.watch_interval,
                lambda r: _log_pass(ctx, r),
                lambda: ctx.cancelled,
            )
    finally:
        store.close()
    for failed, error in report.failed:
        ctx.log(f"skipped {failed}: {error}", "warning")
    summary = report.to_json()
    write_json(ctx.run_dir / "report.json", {**summary, "collection": str(path)})
    ctx.artifact(path, "collection")
    ctx.check_cancelled()  # a cancelled run keeps what it wrote; the next run resumes
    if params.rebuild:
        for old in path.parent.glob(path.name + ".old*"):
            old.unlink()
    ctx.log(
        f"{path.name}: {report.indexed} indexed, {report.unchanged} unchanged, {report.removed} removed, "
        f"{len(report.failed)} skipped, {plural(report.chunks, 'chunk')} in {report.seconds:.1f} s"
    )
    return {k: summary[k] for k in ("files", "indexed", "unchanged", "removed", "chunks", "chunks_per_s")} | {
        "failed": len(report.failed),
        "collection": str(path),
    }


def progress_message(p: dict[str, Any]) -> str:
    """Short enough for the Jobs panel's progress bar (a longer one wrapped and was cut);
    the chunk count and rate are in the metrics and the final log line."""
    left = f" · {duration(p['eta_s'])} left" if p["eta_s"] >= 1 and not p.get("final") else ""
    return f"{p['done']}/{plural(p['total'], 'file')}{left}"


def duration(seconds: float) -> str:
    """``40 s``, ``3 min``, ``2 h 5 min``: short enough for a progress bar."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _log_pass(ctx: JobContext, report: IndexReport) -> None:
    if report.indexed or report.removed or report.failed:
        ctx.log(
            f"re-indexed {report.indexed}, removed {report.removed}, skipped {len(report.failed)} "
            f"({plural(report.chunks, 'chunk')} in {report.seconds:.1f} s)"
        )
