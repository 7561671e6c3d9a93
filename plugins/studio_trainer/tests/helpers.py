"""Tiny training configs for the trainer tests, and what they look for in a run's events."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from studio.api import Event, Metric


def tiny(corpus, **overrides) -> dict:
    """Params of a tiny run: a 2-layer, 32-wide model, 16-token context."""
    params: dict[str, Any] = {
        "data": {"corpus": str(corpus)},
        "model": {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 16},
        "max_steps": 20,
        "batch_size": 4,
        "warmup_steps": 2,
        "learning_rate": 3e-3,
        "log_interval": 5,
        "eval_interval": 10,
        "eval_iters": 2,
        "sample_interval": 0,
        "checkpoint_interval": 10,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(params.get(key), dict):
            params[key] = {**params[key], **value}
        else:
            params[key] = value
    return params


def loss_at(step: int) -> Callable[[Event], bool]:
    """For ``ctx.cancel_when``: the training loss was logged at ``step``."""
    return lambda e: isinstance(e, Metric) and e.name == "train/loss" and e.step == step


def curve(events: Iterable[Event], name: str = "train/loss") -> list[tuple[float, float | None]]:
    """The (step, value) points of one metric in a run's events."""
    return [(e.step, e.value) for e in events if isinstance(e, Metric) and e.name == name]
