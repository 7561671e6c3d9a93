"""The trainer's job runners (``JobKind.runner``): train, generate from a checkpoint, merge
a LoRA checkpoint. Each imports torch when it runs, in the job's worker process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from studio.api import JobContext, StudioFileError

from .config import GenerateParams, MergeParams, TrainParams


def train(params: TrainParams, ctx: JobContext) -> dict[str, Any]:
    """Pretrain, fine-tune, distill or resume a model (the loop: ``train/loop.py``)."""
    from .train.loop import train as run_training

    return run_training(params, ctx)


def generate(params: GenerateParams, ctx: JobContext) -> dict:
    """Sample from a checkpoint; the text streams into the log and lands in a ``sample`` span."""
    from .provider import compute_dtype, token_record
    from .train.checkpoint import load_checkpoint, resolve_checkpoint
    from .train.device import pick_device
    from .train.sampling import sample_with_record

    device = pick_device(params.device)
    folder = resolve_checkpoint(params.checkpoint, ctx.folders, prefer="best")
    model, tokenizer, config = load_checkpoint(
        folder, device, generate=True, dtype=params.dtype, allow_pickle=params.allow_pickle
    )
    if "loaded_as" in config:
        ctx.log(f"{folder.name}: {config['loaded_as']}")
    # the model string a model call would use: Traces and the Inspector read it
    prefix = "hf/" if config.get("format") == "huggingface" else "studio/"
    unknown = tokenizer.unknown(params.prompt)
    if unknown:
        ctx.log(f"the tokenizer does not know {''.join(sorted(unknown))!r}; those characters are dropped", "warning")
    pieces: list[str] = []
    started = time.time()

    def on_text(piece: str) -> None:
        pieces.append(piece)
        ctx.progress(len(pieces), params.max_new_tokens)
        ctx.check_cancelled()

    try:
        sample = sample_with_record(
            model,
            tokenizer,
            params.prompt,
            params.max_new_tokens,
            params.temperature,
            params.top_k,
            seed=params.seed,
            device=device,
            on_text=on_text,
        )
    except (RuntimeError, MemoryError) as exc:
        from .train.memory import is_out_of_memory

        if is_out_of_memory(exc):
            raise MemoryError(
                f"ran out of memory generating from {folder} on {device}; close other programs, "
                "or use a device with more memory"
            ) from None
        raise
    text = sample.text
    sampling = {
        "temperature": params.temperature,
        "top_k": params.top_k,
        "seed": params.seed,
        "dtype": compute_dtype(model),
    }
    record_path = _save_record(
        token_record(
            f"{prefix}{params.checkpoint}", tokenizer, sample, context=model.config.block_size, sampling=sampling
        ),
        ctx,
    )
    ctx.span(
        kind="sample",
        name=f"generate from {folder.name}",
        step=config.get("step"),
        start=started,
        duration=time.time() - started,
        inputs={"prompt": params.prompt, "checkpoint": str(folder)},
        outputs={"text": text},
        token_record="tensors/generate.json" if record_path is not None else None,
        params={
            "temperature": params.temperature,
            "top_k": params.top_k,
            "max_new_tokens": params.max_new_tokens,
            "seed": params.seed,
        },
    )
    ctx.log(params.prompt + text)
    result = {"checkpoint": str(folder), "text": text}
    if record_path is not None:
        result["token_record"] = str(record_path)
    return result


def _save_record(record, ctx: JobContext) -> Path | None:
    """The generation's tokens beside the run (``tensors/generate.json`` + ``.safetensors``);
    a failed write is a warning, never a failed generation."""
    try:
        return record.save(ctx.run_dir / "tensors", "generate")
    except (OSError, StudioFileError) as exc:
        ctx.log(f"the generation's token data was not saved: {exc}", "warning")
        return None


def merge_lora(params: MergeParams, ctx: JobContext) -> dict:
    """Fold a LoRA checkpoint's adapters into plain weights: a normal checkpoint, no LoRA code
    needed. A fine-tune of a Hugging Face model becomes a Hugging Face folder (its merged
    weights and the base's tokenizer), which ``transformers`` opens alone."""
    from .model.lora import merge_lora as merge
    from .train.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint, save_checkpoint

    folder = resolve_checkpoint(params.checkpoint, ctx.folders, prefer="best")
    output = Path(params.output) if params.output else folder.with_name(folder.name + "-merged")
    if output.exists():
        raise CheckpointError(f"{output} exists; choose another output folder (nothing was overwritten)")
    if _is_hf_finetune(folder):
        return _merge_hf(folder, output, ctx)
    model, tokenizer, config = load_checkpoint(folder, "cpu")
    if not config.get("lora"):
        raise CheckpointError(f"{folder} is not a LoRA checkpoint; nothing to merge")
    count = merge(model)
    save_checkpoint(output, model, tokenizer, step=config.get("step", 0), val_loss=config.get("val_loss"))
    ctx.artifact(output, kind="checkpoint")
    ctx.log(f"merged {count} LoRA layers into {output}")
    return {"checkpoint": str(output), "merged_layers": count}


def _is_hf_finetune(folder: Path) -> bool:
    """A checkpoint of a run that fine-tuned a Hugging Face model (its config names the base)."""
    from .train.checkpoint import read_config

    try:
        return bool(read_config(folder).get("base"))
    except StudioFileError:
        return False


def _merge_hf(folder: Path, output: Path, ctx: JobContext) -> dict:
    """A Hugging Face model's fine-tune → a Hugging Face folder (``hf.finetune.export_hf``)."""
    from .hf.finetune import export_hf
    from .train.checkpoint import load_checkpoint

    model, tokenizer, config = load_checkpoint(folder, "cpu", dtype="float32")
    count = export_hf(model, tokenizer, Path(config["base"]), output)
    ctx.artifact(output, kind="checkpoint")
    what = f"merged {count} LoRA layers" if count else "saved the fine-tuned weights"
    ctx.log(f"{what} of {folder} into the Hugging Face folder {output} (it opens in transformers alone)")
    return {"checkpoint": str(output), "merged_layers": count, "format": "huggingface"}
