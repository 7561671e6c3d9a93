"""Hugging Face folders as measurable models for other plugins (the quantizer):
``studio_model_loaders`` → ``load(path) -> LoadedModel``, measured as studio checkpoints
are (``loader.py``: the mean next-token loss over the last 10 % of a text, in consecutive
context-long windows), in float32 on the CPU."""

from __future__ import annotations

from pathlib import Path

from studio.api import LoadedModel

from ..loader import measured
from .folder import is_hf_folder

#: windows longer than this are cut: a 32k-token context would make one window of the text
MEASURE_CONTEXT = 512


def load(path: Path) -> LoadedModel | None:
    from .load import load_hf

    folder = Path(path)
    if not is_hf_folder(folder):
        return None
    model, tokenizer, config = load_hf(folder, "cpu", "float32")
    block = min(model.config.block_size, MEASURE_CONTEXT)
    shape = f"{config['family']} {model.config.n_layer} layers × {model.config.n_embd}"
    return measured(model, tokenizer, block, f"{shape}, measured over {block}-token windows")
