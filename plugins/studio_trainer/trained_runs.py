"""The trainer's models for the model picker (``studio_model_sources``): the workspace's
training runs that saved a checkpoint. Reads run.json, params.json and the checkpoint's
config.json, and ``stat``s the weights: no torch, fast enough to run each time a picker opens."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from studio.api import Folders, ModelEntry, RunStatus, StudioFileError, entries_per_run, read_json

from .checkpoint_folders import checkpoint_of, checkpoints_dir

KIND = "trained run"

log = logging.getLogger(__name__)


def resolve(folder: Path) -> Path | None:
    """A training run's folder (or a checkpoint folder) → the checkpoint to use: the best."""
    return checkpoint_of(folder, "best")


def list_trained(folders: Folders) -> list[ModelEntry]:
    """One entry per run of the workspace with a checkpoint that holds weights; its ref is
    the run id. A run that cannot be read (a dangling or looping link, an unreadable
    folder, a config.json with a number no float holds) is left out and logged: the
    others are still listed."""
    return entries_per_run(folders, lambda run: _run_entry(run, folders), "trained run")


def _run_entry(run: Path, folders: Folders) -> ModelEntry | None:
    if not checkpoints_dir(run).is_dir():
        return None
    checkpoint = checkpoint_of(run, "best")
    return _entry(run, checkpoint, folders.run_status(run.name)) if checkpoint is not None else None


def _entry(run: Path, checkpoint: Path, status: RunStatus | None = None) -> ModelEntry | None:
    """The run's entry, or None when its checkpoint holds no weights (a config.json alone)."""
    config, params = _json(checkpoint / "config.json"), _json(run / "params.json")
    model = _dict(config.get("model"))
    weights = [
        p
        for p in checkpoint.iterdir()
        if p.suffix == ".safetensors" and not p.name.startswith("train_state") and p.is_file()
    ]
    stats = [p.stat() for p in weights]
    if not sum(s.st_size for s in stats):
        return None
    detail = [f"{checkpoint.name} checkpoint"]
    step = config.get("step") if isinstance(config.get("step"), int) and not isinstance(config["step"], bool) else None
    if step is not None:
        detail.append(f"step {step}")
    loss = _finite(config.get("val_loss"))
    if loss is not None:
        detail.append(f"validation loss {loss:.3f}")
    name = _name(params, model)
    if status is not None and status != RunStatus.SUCCEEDED:  # a run that stopped early reads so in the list
        name += f" ({status.value}" + (f" at step {step})" if step is not None else ")")
    return ModelEntry(
        ref=run.name,
        name=name,
        kind=KIND,
        path=checkpoint,
        size_bytes=sum(s.st_size for s in stats),
        modified=max(s.st_mtime for s in stats),
        detail=" · ".join(detail),
    )


def _finite(value: Any) -> float | None:
    """A number as a float, None for what no float holds (10**400, NaN) or no number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _name(params: dict[str, Any], model: dict[str, Any]) -> str:
    """What the run trained on, and the model's shape: "shakespeare.txt · 2 layers × 32"."""
    data = _dict(params.get("data"))
    source = data.get("corpus") or params.get("init_from") or "model"
    shape = ""
    if {"n_layer", "n_embd"} <= model.keys():
        shape = f" · {model['n_layer']} layer{'' if model['n_layer'] == 1 else 's'} × {model['n_embd']}"
    return f"{Path(str(source)).name}{shape}"


def _json(path: Path) -> dict[str, Any]:
    try:
        return _dict(read_json(path))
    except StudioFileError:
        return {}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
