"""Sampling text from a model with its own random generator (training RNG untouched).

``sample_text`` returns the continuation; ``sample_with_record`` also returns what the
sampler saw at each token (``model.recording``): the local provider hands that on as
OpenAI-style logprobs. Both generate with a key/value cache where the model supports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..model.recording import StepRecorder, Steps

#: alternatives recorded per token (OpenAI's ``top_logprobs`` allows up to 20)
TOP_ALTERNATIVES = 20


@dataclass
class Sample:
    """A continuation and the per-token record of how it was sampled."""

    text: str
    prompt_ids: list[int]
    steps: Steps = field(default_factory=Steps)  # reply tokens: steps.ids (end-of-text left out)


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
    return _sample(
        model, tokenizer, prompt, max_new_tokens, temperature, top_k, seed, device, on_text, stop_at_eos, None
    ).text


@torch.no_grad()
def sample_with_record(
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
    alternatives: int = TOP_ALTERNATIVES,
) -> Sample:
    """``sample_text``, plus each reply token's log-probability under the model's own
    distribution (before temperature and top-k), its ``alternatives`` likeliest tokens and
    the entropy."""
    return _sample(
        model,
        tokenizer,
        prompt,
        max_new_tokens,
        temperature,
        top_k,
        seed,
        device,
        on_text,
        stop_at_eos,
        StepRecorder(alternatives),
    )


def _sample(
    model, tokenizer, prompt, max_new_tokens, temperature, top_k, seed, device, on_text, stop_at_eos, recorder
) -> Sample:
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

    # a chat model's end of turn ends a reply too (a Hugging Face generation_config's eos ids)
    stops = frozenset(getattr(tokenizer, "stop_ids", ())) | {tokenizer.eos_id} if stop_at_eos else frozenset()
    try:
        model.generate(
            torch.tensor([ids], device=device),
            max_new_tokens,
            temperature,
            top_k,
            generator=generator,
            stop_id=tokenizer.eos_id if stop_at_eos else None,
            on_token=on_token,
            recorder=recorder,
            stop_ids=stops,
        )
    finally:
        model.train(was_training)
    tokens = out[start:]
    if stop_at_eos and tokens and tokens[-1] in stops:
        tokens = tokens[:-1]
    steps = recorder.result().truncated(len(tokens)) if recorder is not None else Steps()
    return Sample(tokenizer.decode(tokens), list(ids), steps)
