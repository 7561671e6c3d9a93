"""The ``diagnostics.stream`` job: streams synthetic training-like curves at a chosen rate
while (optionally) keeping a CPU core busy. The quickest way to check that jobs, events, run
folders and the Metrics panel work on a machine, and the load the benchmarks use."""

from __future__ import annotations

import random
import time
from typing import Any

from studio.api import JobContext

from .config import StreamParams
from .curves import NAMES, synthetic_value


def stream(params: StreamParams, ctx: JobContext) -> dict[str, Any]:
    rng = random.Random(params.seed)
    names = NAMES[: params.metrics_per_step]
    period = 1.0 / params.rate if params.rate > 0 else 0.0
    start = time.perf_counter()
    ctx.log(f"streaming {params.steps} steps × {len(names)} metrics at {'max' if not period else params.rate} steps/s")
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
