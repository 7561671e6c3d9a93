"""The job runners named in ``JobKind.runner``. They run in a worker process (no Qt here)
and talk to the studio only through the JobContext: progress, metrics and log lines are
recorded in the run's folder and shown live; what a runner returns (JSON-able data) is the
job's result."""

from __future__ import annotations

import time
from typing import Any

from studio.api import JobContext

from .config import CountParams


def count(params: CountParams, ctx: JobContext) -> dict[str, Any]:
    total = 0
    for step in range(1, params.steps + 1):
        ctx.check_cancelled()  # Cancel in the studio (or Ctrl-C on the CLI) stops the job here
        total += step
        ctx.metric("total", step, total)
        ctx.log(f"{params.message} {step}")
        ctx.progress(step, params.steps)
        if params.delay:
            time.sleep(params.delay)
    return {"steps": params.steps, "total": total}
