"""Parameters of the quantizer's jobs (a form in the studio, --set on the CLI). No torch
here: the studio reads these when it starts."""

from __future__ import annotations

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from studio.api import check_model_field

from .scheme import DEFAULT_SKIP, Granularity, Mode, ObserverKind


class ModelField(BaseModel):
    """A job that reads a model: what ``checkpoint`` names must exist when the job is
    submitted (a run of the workspace or a folder; ``studio.api.resolve_model``), so a
    typo is refused before a run folder is made. Forms do not check it while typing."""

    checkpoint: str

    @field_validator("checkpoint")
    @classmethod
    def _model_exists(cls, value: str, info: ValidationInfo) -> str | None:
        return check_model_field(value, info)


class QuantizeParams(ModelField):
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


class CompareParams(ModelField):
    checkpoint: str = Field(..., description="a run id, run folder or checkpoint folder")
    schemes: str = Field(
        "int8,int8-tensor,int4-g32,int4-g128,int4-g32-asym,int3-g32",
        description="comma-separated scheme names (int8, int4-g32, int4-g128-asym…)",
    )
    measure_text: str = Field("", description="a text file: the loss change of each scheme on its last 10 %")


class SensitivityParams(ModelField):
    checkpoint: str = Field(..., description="a run id, run folder or checkpoint folder")
    scheme: str = Field("int4-g32", description="the scheme applied to one layer at a time")
    measure_text: str = Field(..., description="a text file: the loss is measured on its last 10 %")
