"""Synthetic curves shaped like a real training run's: decaying losses, a warmup + cosine
learning rate, a settling gradient norm."""

from __future__ import annotations

import math
import random

NAMES = ("train/loss", "val/loss", "lr", "grad_norm") + tuple(f"extra/{i}" for i in range(12))


def synthetic_value(name: str, step: int, steps: int, rng: random.Random) -> float:
    """The value of metric ``name`` at ``step`` of ``steps``, with noise from ``rng``."""
    progress = step / max(1, steps)
    if name == "lr":
        warmup = min(1.0, progress * 20)
        return 3e-4 * warmup * 0.5 * (1 + math.cos(math.pi * progress))
    if name == "grad_norm":
        return 0.5 + 2.0 * math.exp(-progress * 8) + abs(rng.gauss(0, 0.1))
    loss = 1.5 + 2.5 * math.exp(-progress * 5)
    offset = 0.08 if name == "val/loss" else 0.0
    return loss + offset + rng.gauss(0, 0.05)
