"""Parameters of the quantize job (a form in the studio, --set on the CLI). No torch here:
the studio reads these when it starts."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .scheme import DEFAULT_SKIP


def loss_text(figures: dict) -> str:
    """'loss 1.9012 (ppl 6.69) · ', or for a model whose loss is not in nats its own name."""
    if "loss" not in figures:
        return ""
    if "perplexity" in figures:
        return f"loss {figures['loss']:.4f} (ppl {figures['perplexity']:.2f}) · "
    return f"{figures.get('loss_name', 'loss')} {figures['loss']:.5f} · "


class QuantizeParams(BaseModel):
    checkpoint: str = Field(..., description="a checkpoint folder (model.safetensors + config.json)")
    bits: int = Field(8, ge=2, le=8)
    symmetric: bool = True
    granularity: str = Field("channel", pattern="^(tensor|channel|group)$")
    group_size: int = Field(32, ge=2)
    skip: str = Field(", ".join(DEFAULT_SKIP), description="comma-separated tensor name patterns kept in fp32")
    mode: str = Field("weight_only", pattern="^(weight_only|dynamic|static)$",
                      description="static: activation ranges fixed by calibration")
    measure_text: str = Field("", description="a text file: measure loss on its last 10 % and latency")
    calibration: str = Field("", description="static mode: a calibration text file (default: the measure text)")
    observer: str = Field("minmax", pattern="^(minmax|percentile|mse)$", description="static mode: activation ranges")
    out: str = Field("", description="output folder (default: quantized/ in the run folder); never overwritten")


class CompareParams(BaseModel):
    checkpoint: str = Field(..., description="a checkpoint folder")
    schemes: str = Field("int8,int8-tensor,int4-g32,int4-g128,int4-g32-asym,int3-g32",
                         description="comma-separated scheme names (int8, int4-g32, int4-g128-asym…)")
    measure_text: str = Field("", description="a text file: the loss change of each scheme on its last 10 %")


class SensitivityParams(BaseModel):
    checkpoint: str = Field(..., description="a checkpoint folder")
    scheme: str = Field("int4-g32", description="the scheme applied to one layer at a time")
    measure_text: str = Field(..., description="a text file: the loss is measured on its last 10 %")
