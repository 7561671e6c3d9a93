"""A quantization scheme: bits, symmetry, granularity, mode, and which tensors it touches."""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Literal

from pydantic import BaseModel, Field

DEFAULT_SKIP = ["wte.*", "wpe.*", "lm_head.*"]  # embeddings and the output head stay in full precision


class Scheme(BaseModel):
    bits: int = Field(8, ge=2, le=8, description="bits per weight code")
    symmetric: bool = Field(True, description="zero point 0 (symmetric) or fitted to the range (asymmetric)")
    granularity: Literal["tensor", "channel", "group"] = Field("channel", description="values sharing a scale")
    group_size: int = Field(32, ge=2, description="values per group (granularity group): 32, 64, 128…")
    mode: Literal["weight_only", "dynamic", "static"] = Field("weight_only",
                                                               description="what is quantized when the model runs")
    skip: list[str] = Field(default_factory=lambda: list(DEFAULT_SKIP),
                            description="tensor name patterns kept in full precision")
    layer_bits: dict[str, int] = Field(default_factory=dict,
                                       description="tensor name pattern → bits, overriding bits per layer")

    def label(self) -> str:
        sym = "sym" if self.symmetric else "asym"
        gran = f"group{self.group_size}" if self.granularity == "group" else self.granularity
        return f"int{self.bits}-{sym}-{gran}-{self.mode}"

    def bits_for(self, name: str) -> int | None:
        """Bits for tensor ``name``, or None when it is kept in full precision."""
        if any(fnmatch(name, pattern) for pattern in self.skip):
            return None
        for pattern, bits in self.layer_bits.items():
            if fnmatch(name, pattern):
                return bits
        return self.bits

    def quantizes(self, name: str, tensor) -> bool:
        return tensor.dim() == 2 and tensor.is_floating_point() and name.endswith("weight") \
            and self.bits_for(name) is not None
