"""Sampling text from a model with its own random generator (training RNG untouched)."""

from __future__ import annotations

import torch


@torch.no_grad()
def sample_text(
    model,
    tokenizer,
    prompt: str,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    seed: int | None = None,
    device: str = "cpu",
    on_text=None,
    stop_at_eos: bool = False,
) -> str:
    """The continuation of ``prompt`` (without the prompt). ``on_text(piece)`` streams it."""
    ids = tokenizer.encode(prompt) or [tokenizer.eos_id]
    generator = torch.Generator(device=device)
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    was_training = model.training
    model.eval()
    start = len(ids)
    emitted = ""
    out: list[int] = list(ids)

    def on_token(token: int) -> bool:
        nonlocal emitted
        out.append(token)
        if on_text is not None:
            text = tokenizer.decode(out[start:])
            if len(text) > len(emitted) and not text.endswith("\ufffd"):
                on_text(text[len(emitted) :])
                emitted = text
        return False

    model.generate(
        torch.tensor([ids], device=device),
        max_new_tokens,
        temperature,
        top_k,
        generator=generator,
        stop_id=tokenizer.eos_id if stop_at_eos else None,
        on_token=on_token,
    )
    model.train(was_training)
    tokens = out[start:]
    if stop_at_eos and tokens and tokens[-1] == tokenizer.eos_id:
        tokens = tokens[:-1]
    return tokenizer.decode(tokens)
