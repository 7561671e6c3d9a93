"""Parameters of the quantizer's jobs (a form in the studio, --set on the CLI). No torch
here: the studio reads these when it starts."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .scheme import DEFAULT_SKIP, Granularity, Mode, ObserverKind


class QuantizeParams(BaseModel):
    checkpoint: str = Field(
        ..., description="a run id, run folder or checkpoint folder (model.safetensors + config.json)"
    )
    bits: int = Field(8, ge=2, le=8)
    symmetric: bool = True
    granularity: Granularity = "channel"
    group_size: int = Field(32, ge=2)
    skip: str = Field(", ".join(DEFAULT_SKIP), description="comma-separated tensor name patterns kept in fp32")
    mode: Mode = Field("weight_only", description="static: activation ranges fixed by calibration")
    measure_text: str = Field("", description="a text file: measure loss on its last 10 % and latency")
    calibration: str = Field("", description="static mode: a calibration text file (default: the measure text)")
    observer: ObserverKind = Field("minmax", description="static mode: activation ranges")
    out: str = Field("", description="output folder (default: quantized/ in the run folder); never overwritten")


class CompareParams(BaseModel):
    checkpoint: str = Field(..., description="a run id, run folder or checkpoint folder")
    schemes: str = Field(
        "int8,int8-tensor,int4-g32,int4-g128,int4-g32-asym,int3-g32",
        description="comma-separated scheme names (int8, int4-g32, int4-g128-asym…)",
    )
    measure_text: str = Field("", description="a text file: the loss change of each scheme on its last 10 %")


class SensitivityParams(BaseModel):
    checkpoint: str = Field(..., description="a run id, run folder or checkpoint folder")
    scheme: str = Field("int4-g32", description="the scheme applied to one layer at a time")
    measure_text: str = Field(..., description="a text file: the loss is measured on its last 10 %")
