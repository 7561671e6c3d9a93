"""The trainer's models for the model picker (``studio_model_sources``): the workspace's
training runs that saved a checkpoint. Reads run.json, params.json and the checkpoint's
config.json, and ``stat``s the weights: no torch, fast enough to run each time a picker opens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.api import Folders, ModelEntry, StudioFileError, read_json

from .checkpoint_folders import checkpoint_of, checkpoints_dir

KIND = "trained run"


def resolve(folder: Path) -> Path | None:
    """A training run's folder (or a checkpoint folder) → the checkpoint to use: the best."""
    return checkpoint_of(folder, "best")


def list_trained(folders: Folders) -> list[ModelEntry]:
    """One entry per run of the workspace with a checkpoint; its ref is the run id."""
    try:
        runs = [p for p in folders.runs.iterdir() if checkpoints_dir(p).is_dir()]
    except OSError:  # no runs folder yet
        return []
    entries = []
    for run in runs:
        checkpoint = checkpoint_of(run, "best")
        if checkpoint is not None:
            entries.append(_entry(run, checkpoint))
    return entries


def _entry(run: Path, checkpoint: Path) -> ModelEntry:
    config, params = _json(checkpoint / "config.json"), _json(run / "params.json")
    model = _dict(config.get("model"))
    weights = [p for p in checkpoint.iterdir() if p.suffix == ".safetensors" and not p.name.startswith("train_state")]
    stats = [p.stat() for p in weights]
    detail = [f"{checkpoint.name} checkpoint"]
    if isinstance(config.get("step"), int):
        detail.append(f"step {config['step']}")
    if isinstance(config.get("val_loss"), (int, float)):
        detail.append(f"validation loss {config['val_loss']:.3f}")
    return ModelEntry(
        ref=run.name,
        name=_name(params, model),
        kind=KIND,
        path=checkpoint,
        size_bytes=sum(s.st_size for s in stats),
        modified=max((s.st_mtime for s in stats), default=checkpoint.stat().st_mtime),
        detail=" · ".join(detail),
    )


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
