"""Fine-tuning a Hugging Face model: LoRA targets per family, the checkpoint of such a run,
and the merge that turns it back into a Hugging Face folder.

A checkpoint of a run that started from a Hugging Face folder holds what the run changed,
beside the studio's usual files, and names the folder it started from::

    checkpoints/step-000020/
        config.json             {"format": "tensor-studio-checkpoint/1", "base": "/abs/base folder",
                                 "family", "model" (the shape), "lora", "step", "val_loss", "weights"}
        adapter.safetensors     LoRA: the A and B matrices only (transformers' module names)
        model.safetensors       a full fine-tune: every weight (transformers' names)
        train_state.safetensors / train_state.json   as any checkpoint (resume)

``load_finetuned`` opens the base (``load_checkpoint``: a Hugging Face folder, or another
such checkpoint) and puts the run's weights on it, so Generate, the Inspector and the
provider take the fine-tuned model as they take any checkpoint. ``export_hf`` writes the
model as a Hugging Face folder (``save_pretrained``, safetensors) with the base's tokenizer:
it reopens in ``transformers`` alone, with no LoRA code.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from studio.api import write_json

from ..config import CHECKPOINT_FORMAT, LoRAConfig
from ..model.lora import LoRALinear, apply_lora, merge_lora
from ..model.summary import ModelSummary, _with_costs
from .model import HFCausalLM

ADAPTER = "adapter.safetensors"
WEIGHTS = "model.safetensors"
#: the studio GPT's default LoRA targets: for a Hugging Face model they stand for its family's
STUDIO_TARGETS = ("attn.qkv", "attn.proj")
#: the attention projections of each family (GPT-2's are transformers' Conv1D)
FAMILY_TARGETS = {
    "gpt2": ["attn.c_attn", "attn.c_proj"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen3": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "smollm3": ["q_proj", "k_proj", "v_proj", "o_proj"],
}


def is_finetune(config: dict[str, Any]) -> bool:
    """A studio checkpoint config of a run that fine-tuned a Hugging Face model."""
    return isinstance(config.get("base"), str) and bool(config["base"])


def lora_targets(model: HFCausalLM, targets: list[str]) -> tuple[list[str], str | None]:
    """The targets to adapt and a note when they were translated: the studio's defaults
    (``attn.qkv``, ``attn.proj``) name no module of a Hugging Face model, so they stand for
    its family's attention projections (for a family not listed: every linear layer of the
    first layer's attention module, by name)."""
    if tuple(targets) != STUDIO_TARGETS:
        return list(targets), None
    family = model.config.family
    chosen = FAMILY_TARGETS.get(family)
    if chosen is None:
        from ..model.lora import is_linear

        attn = getattr(model.layout.layers[0], model.layout.attn)
        chosen = [name for name, child in attn.named_children() if is_linear(child)]
    return (
        chosen,
        f"LoRA targets {', '.join(targets)} are the studio model's; for {family} they are {', '.join(chosen)}",
    )


def summarize_hf(model: HFCausalLM, block: int, batch_size: int = 1, grad_checkpointing: bool = False) -> ModelSummary:
    """Parameters per part (embeddings, each decoder layer, the rest), FLOPs per token and
    training memory at the training context ``block`` (not the model's full context)."""
    layers: list[tuple[str, int]] = []
    seen: set[int] = set()

    def count(label: str, module: torch.nn.Module) -> None:
        own = [p for p in module.parameters() if id(p) not in seen]
        seen.update(id(p) for p in own)
        layers.append((label, sum(p.numel() for p in own)))

    count("embeddings", model.hf.get_input_embeddings())
    for i, layer in enumerate(model.blocks):
        count(f"layers.{i}", layer)
    count("final norm", model.ln_f)
    rest = sum(p.numel() for p in model.parameters() if id(p) not in seen)
    layers.append(("lm_head and the rest" if rest else "lm_head (tied to the embeddings)", rest))
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    c = model.config
    shape = SimpleNamespace(
        n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd, block_size=block, attention="causal", xcorr_lags=1
    )
    return _with_costs(
        ModelSummary(layers=layers, total_params=total, trainable_params=trainable),
        shape,
        batch_size,
        grad_checkpointing,
    )


# ---------------------------------------------------------------- the checkpoint


def adapter_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The LoRA matrices by their state-dict names."""
    return {k: v for k, v in model.state_dict().items() if k.endswith((".lora_A", ".lora_B"))}


def save_finetuned(
    folder: Path,
    model: HFCausalLM,
    base: Path,
    *,
    step: int,
    val_loss: float | None,
    lora: LoRAConfig | None,
    block: int,
    train_tensors: dict[str, torch.Tensor] | None = None,
    train_meta: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint (the layout in the module docstring) as ``save_checkpoint`` does:
    into ``<name>.partial``, renamed into place when complete."""
    from safetensors.torch import save_file, save_model

    from ..train.checkpoint import write_checkpoint

    def weights_and_config(partial: Path) -> None:
        if lora is not None:
            tensors = {k: v.detach().float().cpu().contiguous() for k, v in adapter_tensors(model).items()}
            save_file(tensors, str(partial / ADAPTER), metadata={"format": CHECKPOINT_FORMAT})
        else:
            save_model(model.hf, str(partial / WEIGHTS), metadata={"format": CHECKPOINT_FORMAT})
        shape = {**dataclasses.asdict(model.config), "block_size": block}
        write_json(
            partial / "config.json",
            {
                "format": CHECKPOINT_FORMAT,
                "base": str(Path(base).resolve()),
                "family": model.config.family,
                "model": shape,
                "weights": ADAPTER if lora is not None else WEIGHTS,
                "step": step,
                "val_loss": val_loss,
                "lora": lora.model_dump() if lora else None,
            },
        )

    return write_checkpoint(folder, weights_and_config, train_tensors, train_meta)


#: checkpoints being opened in this thread's chain of bases (a base may be another fine-tune)
_OPENING: set[Path] = set()


def load_finetuned(
    folder: Path,
    config: dict[str, Any],
    device: str = "cpu",
    *,
    with_lora: bool = True,
    generate: bool = False,
    dtype: str = "auto",
    allow_pickle: bool = False,
) -> tuple[HFCausalLM, Any, dict[str, Any]]:
    """The fine-tuned model: its base, with the run's adapters on it (``with_lora``; else
    folded into the weights) or its weights in place of the base's. Returns what
    ``load_checkpoint`` returns; the config is this checkpoint's, with ``loaded_as``."""
    from pydantic import ValidationError
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..config import one_line
    from ..train.checkpoint import CheckpointError, load_checkpoint, refuse_non_finite

    folder = Path(folder)
    base = Path(config["base"])
    if not base.is_absolute():  # the trainer writes an absolute path; a relative one would depend on the cwd
        raise CheckpointError(f"{folder}/config.json: 'base' must be an absolute path, not {config['base'][:200]!r}")
    if not base.exists():
        raise CheckpointError(
            f"{folder} is a fine-tune of {base}, which is not there any more; put the base model back "
            "at that path (the checkpoint holds only what the run changed)"
        )
    if folder.resolve() in _OPENING or base.resolve() == folder.resolve():
        raise CheckpointError(f"{folder}/config.json names a base that leads back to this checkpoint (a loop)")
    try:
        lora = LoRAConfig.model_validate(config["lora"]) if config.get("lora") else None
    except ValidationError as exc:
        raise CheckpointError(f"{folder}/config.json has an invalid LoRA config: {one_line(exc)}") from None
    _OPENING.add(folder.resolve())
    try:
        model, tokenizer, base_config = load_checkpoint(
            base, "cpu", with_lora=False, generate=False, dtype=dtype, allow_pickle=allow_pickle
        )
    finally:
        _OPENING.discard(folder.resolve())
    if not isinstance(model, HFCausalLM):
        raise CheckpointError(f"{folder}: its base {base} is not a Hugging Face model")
    name = ADAPTER if lora is not None else WEIGHTS
    path = folder / name
    if not path.is_file():
        raise CheckpointError(f"{folder} has no {name} (the run's weights)")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path} is corrupt or not a safetensors file: {exc}") from None
    if lora is not None:
        apply_lora(model, lora.rank, lora.alpha, lora.targets)
        expected = adapter_tensors(model)
        if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in state):
            raise CheckpointError(f"{path} does not match the LoRA layers of {base} (another base or targets?)")
        with torch.no_grad():
            for key, value in state.items():
                expected[key].copy_(value)
        if not with_lora:
            merge_lora(model)
    else:
        missing, unexpected = model.hf.load_state_dict(state, strict=False)
        tied = {n for n in missing if n.endswith("lm_head.weight")} if model.hf.config.tie_word_embeddings else set()
        if set(missing) - tied or unexpected:
            raise CheckpointError(f"{path} does not match {base} (another architecture?)")
    refuse_non_finite(model, folder)
    model.annotate()  # the Inspector's aliases (attn.proj) point at the adapted modules
    layers = sum(isinstance(m, LoRALinear) for m in model.modules())
    how = f"LoRA on {layers} layers" if layers else ("LoRA merged" if lora is not None else "fine-tuned weights")
    loaded = {**config, "loaded_as": f"{base_config.get('loaded_as', base.name)}; {how} from {folder.name}"}
    return model.to(device).eval(), tokenizer, loaded


# ---------------------------------------------------------------- merge into a Hugging Face folder


def export_hf(model: HFCausalLM, tokenizer: Any, base: Path, output: Path) -> int:
    """Fold the adapters into the weights and save the model and the base's tokenizer as a
    Hugging Face folder (in the base's stored dtype). ``output`` must not exist: written to
    ``<name>.partial`` and renamed, so nothing anyone made is overwritten. Returns the
    number of LoRA layers merged."""
    from ..train.checkpoint import CheckpointError
    from .folder import TOKENIZER_FILES, info

    output = Path(output)
    if output.exists():
        raise CheckpointError(f"{output} exists; choose another output folder (nothing was overwritten)")
    count = merge_lora(model)
    found = info(Path(base))  # None for a base that is itself a fine-tune's checkpoint
    stored = found.dtype if found is not None else ""
    if stored in ("float32", "bfloat16", "float16"):
        model.hf.to(getattr(torch, stored))
    partial = output.with_name(output.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        model.hf.save_pretrained(str(partial), safe_serialization=True)
        tokenizer.save(partial)
        for name in TOKENIZER_FILES:  # what save_pretrained does not write again (a chat_template.json…)
            if (Path(base) / name).is_file() and not (partial / name).exists():
                shutil.copy2(Path(base) / name, partial / name)
        partial.rename(output)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, OSError):
            raise CheckpointError(f"could not write {output}: {exc.strerror or exc}") from None
        raise
    return count
