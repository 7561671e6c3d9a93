"""A model reference → the loaded model the inspector hooks into, found and loaded as
``trainer generate`` does (``resolve_checkpoint`` over ``studio.api.resolve_model``, then
``load_checkpoint``). Quantized folders load with their dequantized weights: every block
then is the registry's module with plain float weights, so hooks and per-head reads work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.api import Folders

PREFIX = "studio/"  # a model call's model string: "studio/<run id or folder>"


@dataclass
class LoadedModel:
    model: Any  # the GPT, eval mode, on the CPU
    tokenizer: Any
    folder: Path  # the checkpoint folder
    ref: str  # the reference as given (without "studio/")


def model_ref(model: str | Path) -> str:
    """``studio/<ref>`` (a trace's model string) → ``<ref>``; anything else as given."""
    text = str(model).strip()
    return text[len(PREFIX) :] if text.startswith(PREFIX) and not Path(text).exists() else text


def load_model(model: str | Path, folders: Folders | Path | None = None) -> LoadedModel:
    """Errors are ``CheckpointError`` (a ``StudioFileError``) of one line: no such model, a
    corrupt checkpoint, a pickle as weights."""
    from ..train.checkpoint import load_checkpoint, resolve_checkpoint

    ref = model_ref(model)
    folder = resolve_checkpoint(ref, folders, prefer="best")
    gpt, tokenizer, _config = load_checkpoint(folder, "cpu")
    return LoadedModel(gpt.float().eval(), tokenizer, folder, ref)
