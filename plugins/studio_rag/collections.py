"""Collections by name: ``<workspace>/rag/<name>.rag.sqlite`` (a path works wherever a name does)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from studio.api import active_workspace

from .store import SUFFIX, SQLiteStore, StoreError, unreadable

DEFAULT_COLLECTION = "docs"


def collection_path(name_or_path: str, workspace: Path | None = None) -> Path:
    text = str(name_or_path).strip()
    if text.endswith(SUFFIX) or "/" in text or "\\" in text:
        return Path(text).expanduser()
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", text or "?"):
        raise StoreError(f"collection name {text!r}: use letters, digits, '.', '_' or '-' (or give a path)")
    return Path(workspace or active_workspace()) / "rag" / f"{text}{SUFFIX}"


def collection_name(path: Path) -> str:
    return Path(path).name.removesuffix(SUFFIX)


def open_for_indexing(path: Path, embedder, chunk_size: int, overlap: int, rebuild: bool = False) -> SQLiteStore:
    """Open (or create) a collection for ``embedder``. ``rebuild`` starts it afresh: the
    old file is kept beside it as ``.old`` until the new one is complete."""
    if rebuild and path.exists():
        backup = path.with_name(path.name + ".old")
        for suffix in ("", "-wal", "-shm"):
            source = Path(str(path) + suffix)
            if source.exists():
                source.replace(Path(str(backup) + suffix))
    return SQLiteStore(path, create_with={"embedder": embedder.spec, "dim": embedder.dim,
                                          "precision": getattr(embedder, "precision", "fp32"),
                                          "chunk_size": chunk_size, "overlap": overlap})


def list_collections(workspace: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((Path(workspace) / "rag").glob(f"*{SUFFIX}")):
        try:
            store = SQLiteStore(path)
            try:
                docs = store.documents()
                out.append({"name": collection_name(path), "path": str(path), "embedder": store.meta().get("embedder"),
                            "documents": sum(d["status"] == "indexed" for d in docs.values()),
                            "failed": sum(d["status"] != "indexed" for d in docs.values()), "chunks": store.count()})
            finally:
                store.close()
        except StoreError as exc:
            out.append({"name": collection_name(path), "path": str(path), "error": str(exc)})
        except sqlite3.DatabaseError as exc:  # damage past the pages read on opening
            out.append({"name": collection_name(path), "path": str(path), "error": str(unreadable(path, exc))})
    return out
