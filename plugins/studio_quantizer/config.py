"""Parameters of the quantize job (a form in the studio, --set on the CLI). No torch here:
the studio reads these when it starts."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .scheme import DEFAULT_SKIP


class QuantizeParams(BaseModel):
    checkpoint: str = Field(..., description="a checkpoint folder (model.safetensors + config.json)")
    bits: int = Field(8, ge=2, le=8)
    symmetric: bool = True
    granularity: str = Field("channel", pattern="^(tensor|channel|group)$")
    group_size: int = Field(32, ge=2)
    skip: str = Field(", ".join(DEFAULT_SKIP), description="comma-separated tensor name patterns kept in fp32")
    measure_text: str = Field("", description="a text file: measure loss on its last 10 % and latency")
    out: str = Field("", description="output folder (default: quantized/ in the run folder); never overwritten")
