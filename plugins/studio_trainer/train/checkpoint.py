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
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, load_model, save_file, save_model

from studio.api import StudioFileError, looks_like_pickle, read_json, write_json

# found without torch (the params check at submit finds them too), re-exported here
from ..checkpoint_folders import CheckpointError as CheckpointError
from ..checkpoint_folders import resolve_checkpoint as resolve_checkpoint
from ..config import CHECKPOINT_FORMAT, LoRAConfig, ModelConfig, one_line
from ..data.tokenizer import Tokenizer, load_tokenizer
from ..hf.folder import is_hf_folder
from ..model.gpt import GPT
from ..model.lora import apply_lora
from .memory import meta_model, require_to_load

FORMAT = CHECKPOINT_FORMAT


def save_checkpoint(
    folder: Path,
    model: GPT,
    tokenizer: Tokenizer,
    *,
    step: int,
    val_loss: float | None,
    lora: LoRAConfig | None = None,
    train_tensors: dict[str, torch.Tensor] | None = None,
    train_meta: dict[str, Any] | None = None,
) -> Path:
    def weights_and_config(partial: Path) -> None:
        save_model(model, str(partial / "model.safetensors"), metadata={"format": FORMAT})
        tokenizer.save(partial / "tokenizer.json")
        write_json(
            partial / "config.json",
            {
                "format": FORMAT,
                "model": model.config.model_dump(),
                "tokenizer": "tokenizer.json",
                "tokenizer_kind": tokenizer.kind,
                "step": step,
                "val_loss": val_loss,
                "lora": lora.model_dump() if lora else None,
            },
        )

    return write_checkpoint(folder, weights_and_config, train_tensors, train_meta)


def write_checkpoint(
    folder: Path,
    write: Callable[[Path], None],
    train_tensors: dict[str, torch.Tensor] | None = None,
    train_meta: dict[str, Any] | None = None,
) -> Path:
    """A checkpoint folder written whole or not at all: ``write(partial)`` puts the weights
    and config.json into ``<name>.partial``, the training state goes beside them, and the
    folder is renamed into place (the previous one kept until then). Shared by studio
    checkpoints and fine-tunes of Hugging Face models (``hf/finetune.py``)."""
    folder = Path(folder)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        write(partial)
        if train_tensors is not None:
            save_file(
                {k: v.detach().cpu().contiguous() for k, v in train_tensors.items()},
                str(partial / "train_state.safetensors"),
            )
            write_json(partial / "train_state.json", train_meta or {})
    except BaseException as exc:  # a full disk, a kill: no half-written folder is left behind
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, (OSError, StudioFileError)):
            kept = f"; the previous {folder.name} checkpoint is kept" if folder.exists() else ""
            raise CheckpointError(f"could not write the checkpoint {folder}: {_reason(exc)}{kept}") from None
        raise
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        shutil.rmtree(old, ignore_errors=True)
        folder.rename(old)
    partial.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def _reason(exc: BaseException) -> str:
    import errno

    if getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in str(exc):
        return "the disk is full (free some space, then resume the run)"
    return getattr(exc, "strerror", None) or str(exc)


def mark_latest(checkpoints: Path, folder: Path, step: int, keep: int) -> None:
    """Point latest.json at ``folder`` and delete step checkpoints beyond the newest ``keep``.
    Only the trainer's own ``step-<digits>`` folders: a merged or copied folder a person made
    beside them (``step-000020-merged``) is theirs, never deleted."""
    write_json(checkpoints / "latest.json", {"path": folder.name, "step": step})
    steps = sorted(p for p in checkpoints.glob("step-*") if p.is_dir() and re.fullmatch(r"step-\d+", p.name))
    for stale in steps[:-keep]:
        shutil.rmtree(stale, ignore_errors=True)


def read_config(folder: Path) -> dict[str, Any]:
    config = read_json(Path(folder) / "config.json")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{folder}/config.json is not a Tensor Studio checkpoint config ({FORMAT})")
    return config


def load_checkpoint(
    folder: Path,
    device: str = "cpu",
    with_lora: bool = True,
    generate: bool = False,
    *,
    dtype: str = "auto",
    allow_pickle: bool = False,
) -> tuple[Any, Any, dict[str, Any]]:
    """Model (in eval mode, on ``device``), tokenizer and config of a checkpoint.
    ``generate``: the model is only sampled from, so on the CPU weights stored in another
    form (int8) compute in that form where their plugin can (``WeightReader.run_stored``);
    the config then says how under ``loaded_as``.

    A Hugging Face folder loads through ``hf.load.load_hf`` (``dtype``: "auto" is bfloat16
    where the device computes it natively; ``allow_pickle``: its weights may be a PyTorch
    pickle, read with ``weights_only``); a studio checkpoint's weights are float32 as saved.

    Nothing is allocated before the config, the weights' header (names and shapes) and
    the memory the model needs are checked against each other and the machine."""
    folder = Path(folder)
    if is_hf_folder(folder):
        from ..hf.load import load_hf

        return load_hf(folder, device, dtype, allow_pickle=allow_pickle, generate=generate)
    config = read_config(folder)
    if config.get("base"):  # a fine-tune of a Hugging Face model: its base + what the run changed
        return _load_finetuned(folder, config, device, with_lora, generate, dtype, allow_pickle)
    model_config, lora = _configs(folder, config, with_lora)
    tokenizer = load_tokenizer(folder / _tokenizer_name(folder, config))
    if tokenizer.vocab_size != model_config.vocab_size:  # sampled ids would fall outside the tokenizer
        raise CheckpointError(
            f"{folder}: the tokenizer has {tokenizer.vocab_size:,} tokens but the model "
            f"{model_config.vocab_size:,}: tokenizer.json and the weights were not saved together"
        )
    meta = meta_model(model_config, lora)
    weights = folder / "model.safetensors"
    if weights.exists() and not weights.is_file():
        raise CheckpointError(f"{weights} is not a regular file (a folder, pipe or device)")
    if weights.exists():
        check_header(meta, weights)
    require_to_load(
        meta,
        device,
        f"the model in {folder} ({model_config.n_layer} layers x {model_config.n_embd}, "
        f"vocabulary {model_config.vocab_size:,})",
    )
    model = GPT(model_config)
    if lora is not None:
        apply_lora(model, lora.rank, lora.alpha, lora.targets)
    if weights.exists():
        load_weights(model, weights)
        refuse_non_finite(model, weights)
        return model.to(device).eval(), tokenizer, config
    reader = load_weights_from(model, folder)
    refuse_non_finite(model, folder)
    if generate and device == "cpu" and reader.run_stored:
        from studio.api import resolve

        stored = resolve(reader.run_stored)(model, folder)
        if stored is not model:
            config = {**config, "loaded_as": f"{reader.title}, computing in its stored form"}
        model = stored
    return model.to(device).eval(), tokenizer, config


def _load_finetuned(
    folder: Path, config: dict[str, Any], device: str, with_lora: bool, generate: bool, dtype: str, allow_pickle: bool
) -> tuple[Any, Any, dict[str, Any]]:
    """The hook for a Hugging Face model's fine-tune (helper D's ``hf/finetune.py``): its
    checkpoint names the base folder and holds the adapters or weights the run changed."""
    from ..hf.finetune import load_finetuned

    return load_finetuned(
        folder, config, device, with_lora=with_lora, generate=generate, dtype=dtype, allow_pickle=allow_pickle
    )


def _tokenizer_name(folder: Path, config: dict[str, Any]) -> str:
    """The tokenizer file a config names: a file in the checkpoint folder, not a path
    elsewhere (a config from someone else must not point the loader at other files)."""
    name = config.get("tokenizer", "tokenizer.json")
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise CheckpointError(
            f"{folder}/config.json: 'tokenizer' must name a file in the checkpoint folder, not {name!r}"
        )
    return name


def refuse_non_finite(model: torch.nn.Module, where: Path) -> None:
    """Weights with NaN or infinities (a run that diverged) sample garbage, or fail deep in
    torch: refused at load, naming the first such tensor."""
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{where}: the weights hold NaN or infinite values ({name}, first of them): "
                "the run diverged before this was saved; use an earlier checkpoint"
            )


def _configs(folder: Path, config: dict[str, Any], with_lora: bool) -> tuple[ModelConfig, LoRAConfig | None]:
    """The model (and LoRA) config of a checkpoint's config.json, explained when invalid."""
    try:
        model_config = ModelConfig.model_validate(config.get("model"))
        lora = LoRAConfig.model_validate(config["lora"]) if config.get("lora") and with_lora else None
    except ValidationError as exc:
        raise CheckpointError(f"{folder}/config.json has an invalid model config: {one_line(exc)}") from None
    if model_config.vocab_size < 1:
        raise CheckpointError(f"{folder}/config.json has an invalid model config: vocab_size must be at least 1")
    return model_config, lora


def check_header(model: torch.nn.Module, path: Path) -> None:
    """Compare the names and shapes in a safetensors header with ``model`` (on the meta
    device) before anything is built or read: a checkpoint of another architecture or a
    file that is not safetensors (a pickle…) is refused here; nothing is unpickled."""
    try:
        with safe_open(str(path), framework="pt") as f:
            shapes = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}  # noqa: SIM118 - safe_open is not iterable
    except (SafetensorError, OSError) as exc:
        if looks_like_pickle(path):
            raise CheckpointError(
                f"{path} is a PyTorch pickle, not safetensors; Tensor Studio never unpickles "
                "weights (a pickle can run code): convert it to safetensors"
            ) from None
        raise CheckpointError(f"{path} is corrupt or not a safetensors file: {exc}") from None
    names_of: dict[int, list[str]] = {}  # tied tensors are saved once, under one of their names
    expected: dict[str, tuple[int, ...]] = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        names_of.setdefault(id(tensor), []).append(name)
        expected[name] = tuple(tensor.shape)
    missing = [names[0] for names in names_of.values() if not any(n in shapes for n in names)]
    unexpected = [name for name in shapes if name not in expected]
    wrong = [
        f"{name} is {list(shapes[name])}, the config makes {list(expected[name])}"
        for name in shapes
        if name in expected and shapes[name] != expected[name]
    ]
    if missing or unexpected or wrong:
        detail = "; ".join(
            filter(
                None,
                [
                    f"missing {', '.join(sorted(missing)[:3])}" if missing else "",
                    f"unexpected {', '.join(sorted(unexpected)[:3])}" if unexpected else "",
                    *wrong[:2],
                ],
            )
        )
        raise CheckpointError(f"{path} does not match its config.json (saved from a different architecture?): {detail}")


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
    tied = {
        name
        for name, p in model.named_parameters(remove_duplicate=False)
        if any(other in state and q is p for other, q in model.named_parameters(remove_duplicate=False))
    }
    missing = [m for m in missing if m not in tied]
    if missing or unexpected:
        raise CheckpointError(
            f"{folder} does not match the model: missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}"
        )
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
        detail = (f"missing {', '.join(sorted(missing)[:3])}" if missing else "") + (
            f" unexpected {', '.join(sorted(unexpected)[:3])}" if unexpected else ""
        )
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
    tensors = {
        f"optimizer.{index}.{key}": value if torch.is_tensor(value) else torch.tensor(value)
        for index, entry in state["state"].items()
        for key, value in entry.items()
    }
    return tensors, json.loads(json.dumps(state["param_groups"], default=str))


def load_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict[str, Any]]
) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    current = optimizer.state_dict()["param_groups"]
    if len(groups) != len(current) or any(
        len(a["params"]) != len(b["params"]) for a, b in zip(groups, current, strict=True)
    ):
        raise CheckpointError("the saved optimizer state does not match this model's parameters")
    optimizer.load_state_dict({"state": state, "param_groups": groups})
