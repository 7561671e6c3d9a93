"""Parameters of the diagnostics job (a form in the studio, --set on the CLI)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StreamParams(BaseModel):
    """Stream synthetic metrics: a decaying loss with noise, like a real training run."""

    steps: int = Field(2000, ge=1, le=100_000_000, description="how many steps to run")
    rate: float = Field(200.0, ge=0, description="steps per second; 0 = as fast as possible")
    metrics_per_step: int = Field(1, ge=1, le=16, description="scalar metrics emitted each step")
    busy: bool = Field(True, description="keep a CPU core busy between steps, like real compute")
    seed: int = Field(0, description="random seed of the noise")
    fail_at_step: int | None = Field(None, ge=0, description="raise an error at this step (tests the failure path)")
