"""Hugging Face models for the model picker (``studio_model_sources``): the causal LM
folders in the workspace's ``models/`` folder and in the local Hugging Face cache.

The cache is ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``;
each model there is ``models--<org>--<name>/snapshots/<revision>/``, its files links into
``blobs/``. A workspace model is any folder ``models/<name>/`` (or ``models/<org>/<name>/``)
holding a Hugging Face config. Reads config.json and ``stat``s files: no torch, no
transformers, fast enough to run each time a picker opens. Nothing is downloaded.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from studio.api import Folders, ModelEntry

from .folder import FolderInfo, info, is_hf_folder, read_config

KIND = "Hugging Face"
log = logging.getLogger(__name__)


def hub_cache() -> Path:
    """Where the Hugging Face hub keeps downloaded models on this machine."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path("~/.cache/huggingface/hub").expanduser()


def resolve(folder: Path) -> Path | None:
    """A Hugging Face folder stands for itself; a cached model's ``models--org--name``
    folder for its newest snapshot."""
    folder = Path(folder)
    if is_hf_folder(folder):
        return folder
    if folder.name.startswith("models--") and (folder / "snapshots").is_dir():
        snapshots = _snapshots(folder)
        return snapshots[0] if snapshots else None
    return None


def list_hf(folders: Folders) -> list[ModelEntry]:
    entries: list[ModelEntry] = []
    for path, name in [*_workspace_models(folders.models), *_cached_models(hub_cache())]:
        try:
            found = info(path)
        except OSError as exc:
            log.warning("Hugging Face folder %s left out of the model list: %s", path, exc)
            continue
        if found is not None and (found.weights or found.stored or found.pickles):
            entries.append(_entry(found, name))
        elif found is not None:  # a cache snapshot whose weights link into a deleted blob, say
            log.warning("Hugging Face folder %s left out of the model list: no weights file can be read", path)
    return entries


def _entry(found: FolderInfo, name: str) -> ModelEntry:
    detail = found.detail
    if not found.weights and not found.stored:
        detail += " · weights only as a pickle (not loaded by default)"
    return ModelEntry(
        ref=str(found.path),
        name=name,
        kind=KIND,
        path=found.path,
        size_bytes=found.size_bytes,
        modified=found.modified,
        detail=detail,
        provider_prefix="hf/",  # the prompt engine runs it as hf/<folder>: chat template applied
    )


def _workspace_models(models: Path) -> list[tuple[Path, str]]:
    try:
        children = sorted(p for p in models.iterdir() if p.is_dir())
    except OSError:
        return []
    found: list[tuple[Path, str]] = []
    for child in children:
        if is_hf_folder(child):
            found.append((child, child.name))
            continue
        if (child / "config.json").is_file() and read_config(child) is None:
            log.warning("%s left out of the model list: its config.json cannot be read as JSON", child)
            continue
        try:  # models/<org>/<name>/
            found.extend((p, f"{child.name}/{p.name}") for p in sorted(child.iterdir()) if is_hf_folder(p))
        except OSError:
            continue
    return found


def _cached_models(cache: Path) -> list[tuple[Path, str]]:
    try:
        repos = sorted(p for p in cache.glob("models--*") if p.is_dir())
    except OSError:
        return []
    found = []
    for repo in repos:
        snapshots = _snapshots(repo)
        if snapshots:
            found.append((snapshots[0], repo.name.removeprefix("models--").replace("--", "/")))
    return found


def _snapshots(repo: Path) -> list[Path]:
    """The repo's snapshots holding a config, the one ``refs/main`` names first, then newest first."""
    try:
        snapshots = [p for p in (repo / "snapshots").iterdir() if p.is_dir() and (p / "config.json").exists()]
    except OSError:
        return []
    ref = repo / "refs" / "main"
    try:  # a regular file only, its first bytes only: a pipe would block, /dev/zero never end
        with ref.open("rb") if ref.is_file() else open(os.devnull, "rb") as file:
            main = file.read(256).decode("utf-8", "replace").strip()
    except OSError:
        main = ""
    return sorted(snapshots, key=lambda p: (p.name != main, -p.stat().st_mtime))
