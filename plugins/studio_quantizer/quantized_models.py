"""The quantizer's models for the model picker (``studio_model_sources``): the quantized
folders its quantize runs wrote into the workspace (``<run folder>/quantized``). Reads
``quantization.json`` and ``stat``s the weights: no torch, fast enough to run each time a
picker opens. A quantize run's id or folder names its quantized folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from studio.api import Folders, ModelEntry, StudioFileError, entries_per_run, read_json

log = logging.getLogger(__name__)

KIND = "quantized"
MANIFEST = "quantization.json"
OUTPUT = "quantized"  # the folder a quantize job writes in its run folder (jobs.quantize)


def resolve(folder: Path) -> Path | None:
    """A quantized folder itself, or a quantize run's folder → its quantized folder."""
    folder = Path(folder)
    if (folder / MANIFEST).is_file():
        return folder
    if (folder / OUTPUT / MANIFEST).is_file():
        return folder / OUTPUT
    return None


def list_quantized(folders: Folders) -> list[ModelEntry]:
    """One entry per quantize run of the workspace that wrote its quantized folder with its
    weights. A run that cannot be read (a dangling or looping link, an unreadable folder)
    is left out and logged: the others are still listed."""
    return entries_per_run(
        folders,
        lambda run: _entry(run, run / OUTPUT) if (run / OUTPUT / MANIFEST).is_file() else None,
        "quantize run",
    )


def _entry(run: Path, folder: Path) -> ModelEntry | None:
    """The run's entry, or None when its quantized folder holds no weights."""
    manifest = _json(folder / MANIFEST)
    weights = [p.stat() for p in folder.iterdir() if p.suffix == ".safetensors" and p.is_file()]
    if not sum(s.st_size for s in weights):
        return None
    source = Path(str(manifest.get("source") or "?"))
    origin = _origin(source)
    return ModelEntry(
        ref=run.name,
        name=f"{_label(manifest.get('scheme'))} of {origin}",
        kind=KIND,
        path=folder,
        size_bytes=sum(s.st_size for s in weights),
        modified=max(s.st_mtime for s in weights),
        detail=f"quantized from {source}",
    )


def _origin(source: Path) -> str:
    """A trainer checkpoint <run>/checkpoints/<name> is named by its run; a Hugging Face
    cache snapshot (models--org--name/snapshots/<commit>) by its hub id org/name; any other
    folder (a Hugging Face model in the workspace's models/) by its name."""
    if source.parent.name == "checkpoints":
        return source.parent.parent.name
    if source.parent.name == "snapshots" and source.parent.parent.name.startswith("models--"):
        return source.parent.parent.name.removeprefix("models--").replace("--", "/")
    return source.name


def _label(scheme: Any) -> str:
    """``int4 g32``, ``int8 per channel``… from the manifest's scheme."""
    if not isinstance(scheme, dict):
        return "quantized"
    granularity = scheme.get("granularity")
    how = f"g{scheme.get('group_size')}" if granularity == "group" else f"per {granularity}"
    asym = "" if scheme.get("symmetric", True) else " asym"
    return f"int{scheme.get('bits', '?')} {how}{asym}"


def _json(path: Path) -> dict[str, Any]:
    try:
        value = read_json(path)
    except StudioFileError:
        return {}
    return value if isinstance(value, dict) else {}
