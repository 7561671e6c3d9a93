"""Checkpoints: a folder a person can read, and everything needed to resume exactly.

::

    checkpoints/step-000500/
        model.safetensors         weights (safetensors: no pickle, safe to open)
        config.json               model config, tokenizer file, step, validation loss, LoRA
        tokenizer.json            the tokenizer, readable
        train_state.safetensors   optimizer moments, RNG states, data position (tensors)
        train_state.json          the run's params, step, best loss, optimizer param groups
    checkpoints/best/             the same, for the best validation loss so far
    checkpoints/latest.json       {"path": "step-000500", "step": 500}

A checkpoint is written to ``<name>.partial`` and renamed into place, and ``latest.json``
is updated last, so a worker killed mid-save leaves the previous checkpoint as the latest.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model

from studio.api import StudioFileError, read_json, write_json

from ..config import CHECKPOINT_FORMAT, LoRAConfig, ModelConfig
from ..data.tokenizer import Tokenizer, load_tokenizer
from ..model.gpt import GPT
from ..model.lora import apply_lora

FORMAT = CHECKPOINT_FORMAT


class CheckpointError(StudioFileError):
    pass


def save_checkpoint(folder: Path, model: GPT, tokenizer: Tokenizer, *, step: int, val_loss: float | None,
                    lora: LoRAConfig | None = None, train_tensors: dict[str, torch.Tensor] | None = None,
                    train_meta: dict[str, Any] | None = None) -> Path:
    folder = Path(folder)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_model(model, str(partial / "model.safetensors"), metadata={"format": FORMAT})
    tokenizer.save(partial / "tokenizer.json")
    write_json(partial / "config.json", {
        "format": FORMAT, "model": model.config.model_dump(), "tokenizer": "tokenizer.json",
        "tokenizer_kind": tokenizer.kind, "step": step, "val_loss": val_loss,
        "lora": lora.model_dump() if lora else None,
    })
    if train_tensors is not None:
        save_file({k: v.detach().cpu().contiguous() for k, v in train_tensors.items()},
                  str(partial / "train_state.safetensors"))
        write_json(partial / "train_state.json", train_meta or {})
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
    partial.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def mark_latest(checkpoints: Path, folder: Path, step: int, keep: int) -> None:
    """Point latest.json at ``folder`` and delete step checkpoints beyond the newest ``keep``."""
    write_json(checkpoints / "latest.json", {"path": folder.name, "step": step})
    steps = sorted(p for p in checkpoints.glob("step-*") if p.is_dir() and not p.name.endswith((".partial", ".old")))
    for stale in steps[:-keep]:
        shutil.rmtree(stale, ignore_errors=True)


def _has_weights(folder: Path) -> bool:
    """model.safetensors, or weights in a form a plugin reads (``studio_weight_readers``)."""
    if (folder / "model.safetensors").exists():
        return True
    from studio.api import contributions

    return any((folder / reader.marker).exists() for reader in contributions("studio_weight_readers"))


def resolve_checkpoint(ref: str | Path, runs_dir: Path | None = None, prefer: str = "latest") -> Path:
    """A checkpoint folder from a checkpoint folder, a run folder or a run id."""
    path = Path(ref).expanduser()
    if not path.exists() and runs_dir is not None and (Path(runs_dir) / str(ref)).exists():
        path = Path(runs_dir) / str(ref)
    if (path / "config.json").exists() and _has_weights(path):
        return path
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    if prefer == "latest" and (folder / "latest.json").exists():
        try:
            return folder / read_json(folder / "latest.json")["path"]
        except (StudioFileError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{folder}/latest.json is unreadable: {exc}") from None
    for candidate in ("best", *sorted((p.name for p in folder.glob("step-*")), reverse=True)):
        if (folder / candidate / "model.safetensors").exists():
            return folder / candidate
    if not path.exists():
        raise CheckpointError(f"no checkpoint, run folder or run id {str(ref)!r}")
    raise CheckpointError(f"{path} holds no checkpoint (expected config.json and model.safetensors)")


def read_config(folder: Path) -> dict[str, Any]:
    config = read_json(Path(folder) / "config.json")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{folder}/config.json is not a Tensor Studio checkpoint config ({FORMAT})")
    return config


def load_checkpoint(folder: Path, device: str = "cpu", with_lora: bool = True,
                    generate: bool = False) -> tuple[GPT, Tokenizer, dict[str, Any]]:
    """Model (in eval mode, on ``device``), tokenizer and config of a checkpoint.
    ``generate``: the model is only sampled from, so on the CPU weights stored in another
    form (int8) compute in that form where their plugin can (``WeightReader.run_stored``);
    the config then says how under ``loaded_as``."""
    folder = Path(folder)
    config = read_config(folder)
    try:
        model_config = ModelConfig(**config["model"])
    except Exception as exc:
        raise CheckpointError(f"{folder}/config.json has an invalid model config: {exc}") from None
    tokenizer = load_tokenizer(folder / config.get("tokenizer", "tokenizer.json"))
    model = GPT(model_config)
    if config.get("lora") and with_lora:
        lora = LoRAConfig(**config["lora"])
        apply_lora(model, lora.rank, lora.alpha, lora.targets)
    weights = folder / "model.safetensors"
    if weights.exists():
        load_weights(model, weights)
        return model.to(device).eval(), tokenizer, config
    reader = load_weights_from(model, folder)
    if generate and device == "cpu" and reader.run_stored:
        from studio.api import resolve

        stored = resolve(reader.run_stored)(model, folder)
        if stored is not model:
            config = {**config, "loaded_as": f"{reader.title}, computing in its stored form"}
        model = stored
    return model.to(device).eval(), tokenizer, config


def load_weights_from(model: torch.nn.Module, folder: Path):
    """Weights stored another way (a quantized checkpoint…), read by the plugin that wrote
    them (``studio_weight_readers``). Returns that plugin's ``WeightReader``."""
    from studio.api import contributions, resolve

    for reader in contributions("studio_weight_readers"):
        if (folder / reader.marker).exists():
            state = resolve(reader.read)(folder)
            break
    else:
        raise CheckpointError(f"{folder} has no model.safetensors (and no installed plugin reads its weights)")
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise CheckpointError(f"{folder} was saved from a different architecture: {exc}") from None
    tied = {name for name, p in model.named_parameters(remove_duplicate=False)
            if any(other in state and q is p for other, q in model.named_parameters(remove_duplicate=False))}
    missing = [m for m in missing if m not in tied]
    if missing or unexpected:
        raise CheckpointError(f"{folder} does not match the model: missing {sorted(missing)[:3]}, "
                              f"unexpected {sorted(unexpected)[:3]}")
    return reader


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load safetensors weights, explaining a corrupt file or a different architecture."""
    try:
        missing, unexpected = load_model(model, str(path), strict=False)
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path} is corrupt or not a safetensors file: {exc}") from None
    except RuntimeError as exc:  # shape mismatch
        first = str(exc).split("\n")[1].strip() if "\n" in str(exc) else str(exc)
        raise CheckpointError(f"{path} was saved from a different architecture: {first}") from None
    if missing or unexpected:
        detail = (f"missing {', '.join(sorted(missing)[:3])}" if missing else "") + \
                 (f" unexpected {', '.join(sorted(unexpected)[:3])}" if unexpected else "")
        raise CheckpointError(f"{path} was saved from a different architecture:{detail}")


def load_train_state(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    folder = Path(folder)
    if not (folder / "train_state.safetensors").exists():
        raise CheckpointError(f"{folder} has no training state to resume from (it holds weights only)")
    try:
        tensors = load_file(str(folder / "train_state.safetensors"))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{folder}/train_state.safetensors is corrupt: {exc}") from None
    return tensors, read_json(folder / "train_state.json")


# ---------------------------------------------------------------- optimizer state as tensors + JSON


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    state = optimizer.state_dict()
    tensors = {f"optimizer.{index}.{key}": value if torch.is_tensor(value) else torch.tensor(value)
               for index, entry in state["state"].items() for key, value in entry.items()}
    return tensors, json.loads(json.dumps(state["param_groups"], default=str))


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    current = optimizer.state_dict()["param_groups"]
    if len(groups) != len(current) or any(len(a["params"]) != len(b["params"]) for a, b in zip(groups, current)):
        raise CheckpointError("the saved optimizer state does not match this model's parameters")
    optimizer.load_state_dict({"state": state, "param_groups": groups})
