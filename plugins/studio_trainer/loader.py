"""The trainer's checkpoints as measurable models for other plugins (the quantizer):
``studio_model_loaders`` → ``load(path) -> LoadedModel``.

``loss(model, text)`` is the mean next-token loss on the last 10 % of ``text`` (the
validation split a training run on that text holds out), over consecutive windows of the
model's context, so it is deterministic and covers the split (up to ``MAX_TOKENS``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from studio.api import LoadedModel, StudioFileError

VAL_FRACTION = 0.1
MAX_TOKENS = 200_000


def load(path: Path) -> LoadedModel | None:
    from .train.checkpoint import load_checkpoint, read_config

    folder = Path(path)
    try:
        read_config(folder)  # not a studio checkpoint config: not ours to load
    except StudioFileError:
        return None
    model, tokenizer, _config = load_checkpoint(folder, "cpu", with_lora=False)
    block = model.config.block_size
    return measured(
        model, tokenizer, block, f"GPT {model.config.n_layer} layers × {model.config.n_embd}, context {block}"
    )


def measured(model, tokenizer, block: int, description: str) -> LoadedModel:
    """``model`` as a ``LoadedModel``: its loss over ``block``-token windows of a text's held-out part."""

    def loss(candidate, text: str) -> float:
        tokens = torch.tensor(tokenizer.encode(text), dtype=torch.long)
        held_out = tokens[int(tokens.numel() * (1 - VAL_FRACTION)) :][:MAX_TOKENS]
        windows = (held_out.numel() - 1) // block
        if windows < 1:
            raise StudioFileError(
                f"the held-out 10 % of the text has {held_out.numel()} tokens; the model's "
                f"context is {block}: use a longer text"
            )
        rows = held_out[: windows * block + 1]
        x = torch.stack([rows[i * block : (i + 1) * block] for i in range(windows)])
        y = torch.stack([rows[i * block + 1 : (i + 1) * block + 1] for i in range(windows)])
        total = 0.0
        with torch.no_grad():
            for start in range(0, windows, 32):
                _, batch_loss = candidate(x[start : start + 32], y[start : start + 32])
                total += float(batch_loss) * x[start : start + 32].numel()
        return total / x.numel()

    def example_input(batch_size: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(0)
        return torch.randint(model.config.vocab_size, (batch_size, block), generator=generator)

    return LoadedModel(model, loss, example_input, description)
