"""A model reference → the loaded model the inspector hooks into, found and loaded as
``trainer generate`` does (``resolve_checkpoint`` over ``studio.api.resolve_model``, then
``load_checkpoint``). Quantized folders load with their dequantized weights: every block
then is the registry's module with plain float weights, so hooks and per-head reads work.
A Hugging Face folder (``hf/<folder>``, the provider's model string) loads as the studio
model view ``hf.model.HFCausalLM``, in float32 whatever it is stored in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.api import Folders

PREFIX = "studio/"  # a model call's model string: "studio/<run id or folder>"
PREFIXES = (PREFIX, "hf/")  # and "hf/<folder>": a Hugging Face folder's


@dataclass
class LoadedModel:
    model: Any  # the GPT, eval mode, on the CPU
    tokenizer: Any
    folder: Path  # the checkpoint folder
    ref: str  # the reference as given (without "studio/")


def model_ref(model: str | Path) -> str:
    """``studio/<ref>`` or ``hf/<ref>`` (a trace's model string) → ``<ref>``; anything else
    (a folder named so that exists, too) as given."""
    text = str(model).strip()
    for prefix in PREFIXES:
        if text.startswith(prefix) and not Path(text).exists():
            return text[len(prefix) :]
    return text


def load_model(model: str | Path, folders: Folders | Path | None = None) -> LoadedModel:
    """Errors are ``CheckpointError`` (a ``StudioFileError``) of one line: no such model, a
    corrupt checkpoint, a pickle as weights."""
    from ..hf.folder import is_hf_folder
    from ..train.checkpoint import load_checkpoint, resolve_checkpoint

    ref = model_ref(model)
    folder = resolve_checkpoint(ref, folders, prefer="best")
    if is_hf_folder(folder):  # inspected in float32: "auto" may pick bfloat16 on a CPU
        from ..hf.load import load_hf

        gpt, tokenizer, _config = load_hf(folder, "cpu", "float32")
    else:
        gpt, tokenizer, _config = load_checkpoint(folder, "cpu")
    return LoadedModel(gpt.float().eval(), tokenizer, folder, ref)
