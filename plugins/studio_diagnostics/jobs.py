"""Diagnostics jobs. They run in a worker process and use only the JobContext API."""

from __future__ import annotations

import math
import random
import time

from pydantic import BaseModel, Field


class StreamParams(BaseModel):
    """Stream synthetic metrics: a decaying loss with noise, like a real training run."""

    steps: int = Field(2000, ge=1, le=100_000_000, description="how many steps to run")
    rate: float = Field(200.0, ge=0, description="steps per second; 0 = as fast as possible")
    metrics_per_step: int = Field(1, ge=1, le=16, description="scalar metrics emitted each step")
    busy: bool = Field(True, description="keep a CPU core busy between steps, like real compute")
    seed: int = Field(0, description="random seed of the noise")
    fail_at_step: int | None = Field(None, ge=0, description="raise an error at this step (tests the failure path)")


NAMES = ("train/loss", "val/loss", "lr", "grad_norm") + tuple(f"extra/{i}" for i in range(12))


def synthetic_value(name: str, step: int, steps: int, rng: random.Random) -> float:
    """Curves shaped like a real run: decaying losses, a warmup + cosine learning rate."""
    progress = step / max(1, steps)
    if name == "lr":
        warmup = min(1.0, progress * 20)
        return 3e-4 * warmup * 0.5 * (1 + math.cos(math.pi * progress))
    if name == "grad_norm":
        return 0.5 + 2.0 * math.exp(-progress * 8) + abs(rng.gauss(0, 0.1))
    loss = 1.5 + 2.5 * math.exp(-progress * 5)
    offset = 0.08 if name == "val/loss" else 0.0
    return loss + offset + rng.gauss(0, 0.05)


def stream(params: StreamParams, ctx) -> dict:
    rng = random.Random(params.seed)
    names = NAMES[: params.metrics_per_step]
    period = 1.0 / params.rate if params.rate > 0 else 0.0
    start = time.perf_counter()
    ctx.log(f"streaming {params.steps} steps × {len(names)} metrics at "
            f"{'max' if not period else params.rate} steps/s")
    report_every = max(1, params.steps // 200)
    for step in range(params.steps):
        if ctx.cancelled:
            ctx.log(f"stopping at step {step}")
            ctx.check_cancelled()
        if params.fail_at_step is not None and step == params.fail_at_step:
            raise RuntimeError(f"failing at step {step} as asked (fail_at_step)")
        for name in names:
            ctx.metric(name, step, synthetic_value(name, step, params.steps, rng))
        if step % report_every == 0:
            ctx.progress(step, params.steps)
        if period:
            deadline = start + (step + 1) * period
            if params.busy:
                while time.perf_counter() < deadline:
                    pass
            else:
                time.sleep(max(0.0, deadline - time.perf_counter()))
    ctx.progress(params.steps, params.steps, "done")
    elapsed = time.perf_counter() - start
    ctx.log(f"done in {elapsed:.2f} s")
    return {"steps": params.steps, "events": params.steps * len(names), "seconds": elapsed}
