"""Workflow node types: ``rag.retrieve`` (search a collection) and ``rag.summarize`` (tree
summarization of passages through the prompt engine)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from .config import RetrieveParams

_searchers: dict[str, Any] = {}
_lock = threading.Lock()  # one SQLite connection per collection, used from worker threads


def _searcher(collection: str, need_vectors: bool):
    from .collection_files import collection_path
    from .search import open_searcher

    path = collection_path(collection)
    if not path.exists():
        from .store import StoreError

        how = (
            "`tensor-studio rag sample` (or RAG ▸ Build sample collection)"
            if collection == "python-docs"
            else f"`tensor-studio rag index FOLDER -c {collection}` (or drop a folder on the studio)"
        )
        raise StoreError(f"collection {collection!r} does not exist yet ({path}); build it with {how}")
    key = f"{path}|{need_vectors}"
    if key not in _searchers:
        _searchers[key] = open_searcher(path, need_vectors, how=lambda spec: _how_to_name(collection, spec))
    return _searchers[key]


def _how_to_name(collection: str, spec: str) -> str:
    """A workflow cannot name an embedder that runs code: its file is data too, and the
    workflow's consent to code covers the Python nodes it lists, not a collection's record."""
    return (
        "a workflow does not run it (the collection file is no consent to code): search it with "
        f"`tensor-studio rag search QUERY -c {collection} --embedder {spec}`, or set the node's mode to keyword"
    )


async def retrieve(params: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    p = RetrieveParams(**params)

    def run():
        with _lock:
            return _searcher(p.collection, p.mode != "keyword").search(
                str(inputs["query"]), p.k, p.mode, p.path, "", p.mmr
            )

    hits = await asyncio.to_thread(run)  # the model and SQLite work off the event loop
    return {"passages": [h.text for h in hits], "sources": [f"{h.path}:{h.page if h.page else h.line}" for h in hits]}


async def summarize(params: dict[str, Any], inputs: dict[str, Any], runtime) -> dict[str, Any]:
    from .summarize import tree_summarize

    passages = inputs.get("passages") or []
    if isinstance(passages, str):
        passages = [passages]
    return await tree_summarize(str(inputs.get("question", "")), [str(p) for p in passages], runtime)
