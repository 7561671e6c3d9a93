"""Where a training run keeps its checkpoints, and what counts as a checkpoint folder.

Read without torch (the hooks and the Trainer panel use it). Inside a run folder — the
studio's (``ctx.run_dir``); where run folders live is the studio's business, not this
module's — the trainer writes::

    <run folder>/checkpoints/step-000500/   a checkpoint (train/checkpoint.py: its files)
    <run folder>/checkpoints/best/
    <run folder>/checkpoints/latest.json    {"path": "step-000500", "step": 500}
"""

from __future__ import annotations

from pathlib import Path

from studio.api import StudioFileError, read_json

from .config import CHECKPOINT_FORMAT

CHECKPOINTS = "checkpoints"  # the folder of a run's checkpoints


def checkpoints_dir(run_dir: Path) -> Path:
    """The checkpoints folder of a run folder."""
    return Path(run_dir) / CHECKPOINTS


def run_of_checkpoint(checkpoint: Path) -> Path | None:
    """The run folder a checkpoint was saved in (``<run folder>/checkpoints/<name>``), or
    None for a checkpoint folder kept anywhere else."""
    holder = Path(checkpoint).parent
    return holder.parent if holder.name == CHECKPOINTS else None


def is_checkpoint(path: Path) -> bool:
    """A checkpoint folder: config.json, and model.safetensors or weights stored another way
    (a quantized checkpoint keeps the trainer's config.json)."""
    if not (path / "config.json").exists():
        return False
    if (path / "model.safetensors").exists():
        return True
    try:
        config = read_json(path / "config.json")
    except StudioFileError:
        return False
    return isinstance(config, dict) and config.get("format") == CHECKPOINT_FORMAT


def checkpoint_of(folder: Path, prefer: str = "best") -> Path | None:
    """The checkpoint a folder stands for: the folder itself when it is one; for a run
    folder (or its ``checkpoints/`` folder) the best one when ``prefer`` is "best" (the
    latest.json one when "latest"), else the newest step checkpoint; None for a folder
    holding no checkpoint. Reads latest.json only (no torch): the ``resolve`` of the
    trainer's model source (``studio.api.resolve_model``)."""
    folder = Path(folder)
    if is_checkpoint(folder):
        return folder
    holder = checkpoints_dir(folder) if checkpoints_dir(folder).is_dir() else folder
    if prefer == "latest":
        try:
            latest = holder / str(read_json(holder / "latest.json")["path"])
        except (StudioFileError, KeyError, TypeError):
            latest = None
        if latest is not None and is_checkpoint(latest):
            return latest
    steps = sorted((p for p in holder.glob("step-*") if not p.name.endswith((".partial", ".old"))), reverse=True)
    return next((p for p in (holder / "best", *steps) if is_checkpoint(p)), None)
