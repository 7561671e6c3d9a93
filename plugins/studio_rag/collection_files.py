"""Collection files: a name is ``<name>.rag.sqlite`` in the RAG plugin's folder of the
workspace (``Folders.plugin_dir("rag")``); a path works wherever a name does. Opening one
for indexing, listing them, and what ``--rebuild`` may replace."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.api import Folders, workspace_folders

from .doc_keys import safe_text
from .store import (
    SUFFIX,
    DamagedCollection,
    DiskError,
    NotACollection,
    SQLiteStore,
    StoreError,
    named_as_collection,
    unreadable,
)

if TYPE_CHECKING:
    from .embedder import LazyEmbedder

DEFAULT_COLLECTION = "docs"
PLUGIN_ID = "rag"  # the plugin's entry-point name: its folder in a workspace holds the named collections

MAX_NAME = 100  # characters of a collection name (the file adds ".rag.sqlite"; file names stop at 255 bytes)
MAX_PATH_PART = 255  # bytes of one file or folder name on common file systems
MAX_PATH = 4000  # bytes of a whole path (Linux stops at 4096)


def collections_folder(folders: Folders | None = None) -> Path:
    """Where named collections live: the plugin's folder of ``folders``' workspace (the
    active one by default). Not created here: looking a collection up never writes."""
    return (folders or workspace_folders()).plugin_dir(PLUGIN_ID, create=False)


def collection_path(name_or_path: str, folder: Path | None = None) -> Path:
    """A name (letters, digits, '.', '_', '-'; at most ``MAX_NAME``) in ``folder`` (by
    default ``collections_folder()``), or a path (with a '/' or ending in ``.rag.sqlite``)
    whose parts the file system can hold: a name too long is refused here, not as an OS
    error half way through a command."""
    text = str(name_or_path).strip()
    if "\0" in text:
        raise StoreError("a collection name or path cannot hold a NUL character")
    if text.endswith(SUFFIX) or "/" in text or "\\" in text:
        path = Path(text).expanduser()
        long_part = next((part for part in path.parts if len(os.fsencode(part)) > MAX_PATH_PART), None)
        if long_part is not None:
            raise StoreError(
                f"collection path {_short(text)}: the name {_short(long_part)} is "
                f"{len(os.fsencode(long_part)):,} bytes long; file and folder names stop at "
                f"{MAX_PATH_PART}"
            )
        if len(os.fsencode(str(path))) > MAX_PATH:
            raise StoreError(
                f"collection path {_short(text)} is {len(os.fsencode(str(path))):,} bytes long; "
                f"paths stop at {MAX_PATH:,}"
            )
        return path
    if len(text) > MAX_NAME:
        raise StoreError(
            f"collection name {_short(text)} is {len(text):,} characters long; names stop at "
            f"{MAX_NAME} (or give a path)"
        )
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", text or "?") or set(text) == {"."}:
        raise StoreError(f"collection name {_short(text)}: use letters, digits, '.', '_' or '-' (or give a path)")
    return (folder or collections_folder()) / f"{text}{SUFFIX}"


def _short(text: str, limit: int = 60) -> str:
    """``text`` quoted, cut in the middle when long (an error stays one readable line)."""
    text = safe_text(text)
    return repr(text if len(text) <= limit else f"{text[: limit // 2]}…{text[-limit // 2 :]}")


def collection_name(path: Path) -> str:
    return Path(path).name.removesuffix(SUFFIX)


def check_rebuild(path: Path, folder: Path | None = None) -> str | None:
    """What ``--rebuild`` would replace at ``path``: None (nothing there), ``"collection"``
    (a collection: kept as ``.old`` until the new one is complete) or ``"damaged"`` (a
    damaged collection file: moved aside as ``.damaged-<time>`` and kept). Anything else —
    a file of the user's, another program's database, a damaged file not named as a
    collection outside the collections folder (``folder``), a disk that cannot be read — is
    refused, and left as it is."""
    path = Path(path)
    if not os.path.lexists(path):
        return None
    where = safe_text(str(path))
    refused = f"--rebuild replaces only collections (files named *{SUFFIX}), so it was left as it is"
    try:
        SQLiteStore(path, read_only=True).close()
        return "collection"
    except NotACollection as exc:
        raise NotACollection(f"{str(exc).removesuffix('; it was left as it is')}; {refused}") from None
    except DiskError:
        raise
    except DamagedCollection as exc:
        if named_as_collection(path) or in_collections_folder(path, folder):
            return "damaged"
        raise StoreError(f"{where}: not a collection ({_reason(exc)}); {refused}") from None
    except StoreError:  # a collection in another format: still a collection
        return "collection"


def _reason(exc: Exception) -> str:
    """The cause in a store error's first brackets ('file is not a database', 'an empty file')."""
    found = re.search(r"\(([^()]*)\)", str(exc).split(": ", 1)[-1])
    return found.group(1) if found else "unreadable"


def in_collections_folder(path: Path, folder: Path | None = None) -> bool:
    try:
        return Path(path).absolute().parent.resolve() == (folder or collections_folder()).resolve()
    except (OSError, RuntimeError, ValueError):  # a folder that cannot be resolved (a link loop): not in it
        return False


def open_for_indexing(
    path: Path, embedder, chunk_size: int, overlap: int, rebuild: bool = False, folder: Path | None = None
) -> SQLiteStore:
    """Open (or create) a collection for ``embedder``. ``rebuild`` starts it afresh: the
    old collection is kept beside it as ``.old`` until the new one is complete; a damaged
    one is moved aside as ``.damaged-<time>`` and kept; anything that is not a collection
    is refused (``check_rebuild``)."""
    path = Path(path)
    if rebuild:
        found = check_rebuild(path, folder)
        if found is not None:
            aside = path.with_name(
                path.name + (".old" if found == "collection" else time.strftime(".damaged-%Y%m%d-%H%M%S"))
            )
            for suffix in ("", "-wal", "-shm"):
                source = Path(str(path) + suffix)
                if source.exists():
                    source.replace(Path(str(aside) + suffix))
            for cache in (".usearch", ".usearch.json"):  # the approximate index of the old collection
                Path(str(path) + cache).unlink(missing_ok=True)
    return SQLiteStore(
        path,
        create_with={
            "embedder": embedder.spec,
            "dim": embedder.dim,
            "precision": getattr(embedder, "precision", "fp32"),
            "chunk_size": chunk_size,
            "overlap": overlap,
        },
    )


def recorded_embedder(path: Path, spec: str, precision: str, batch_size: int) -> LazyEmbedder | None:
    """The collection's own embedder, loaded only if something needs embedding; None when
    the collection is new (its dimensions come from the model) or names another embedder
    than ``spec`` at ``precision`` (indexing then stops with a clear message)."""
    from .embedder import LazyEmbedder

    if not path.exists():
        return None
    store = SQLiteStore(path, read_only=True)
    try:
        meta = store.meta()
    finally:
        store.close()
    if meta.get("embedder") != spec or meta.get("precision", "fp32") != precision:
        return None
    return LazyEmbedder(spec, precision, batch_size, int(meta["dim"]))


def list_collections(folder: Path) -> list[dict[str, Any]]:
    """The collections in ``folder`` (a ``collections_folder()``), each with its counts or
    why it cannot be read."""
    out = []
    for path in sorted(Path(folder).glob(f"*{SUFFIX}")):
        try:
            store = SQLiteStore(path, read_only=True)
            try:
                docs = store.documents()
                out.append(
                    {
                        "name": collection_name(path),
                        "path": str(path),
                        "embedder": store.meta().get("embedder"),
                        "documents": sum(d["status"] == "indexed" for d in docs.values()),
                        "failed": sum(d["status"] != "indexed" for d in docs.values()),
                        "chunks": store.count(),
                    }
                )
            finally:
                store.close()
        except StoreError as exc:
            out.append({"name": collection_name(path), "path": str(path), "error": str(exc)})
        except sqlite3.DatabaseError as exc:  # damage past the pages read on opening
            out.append({"name": collection_name(path), "path": str(path), "error": str(unreadable(path, exc))})
    return out
