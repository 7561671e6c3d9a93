"""A quantization scheme: bits, symmetry, granularity, mode, and which tensors it touches."""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Annotated, Literal

from pydantic import BaseModel, Field

# embeddings and the output head stay in full precision: the studio GPT's names, BERT-style
# names, then Hugging Face causal LMs' (GPT-2's transformer.wte, Llama's model.embed_tokens)
DEFAULT_SKIP = ["wte.*", "wpe.*", "lm_head.*", "embeddings.*", "*.wte.*", "*.wpe.*", "*embed_tokens.*", "*.lm_head.*"]

Granularity = Literal["channel", "group", "tensor"]  # which values share a scale
Mode = Literal["weight_only", "dynamic", "static"]  # what is quantized when the model runs
ObserverKind = Literal["minmax", "percentile", "mse"]  # static mode: how an activation range is chosen


class Scheme(BaseModel):
    bits: int = Field(8, ge=2, le=8, description="bits per weight code")
    symmetric: bool = Field(True, description="zero point 0 (symmetric) or fitted to the range (asymmetric)")
    granularity: Granularity = Field("channel", description="values sharing a scale")
    group_size: int = Field(32, ge=2, description="values per group (granularity group): 32, 64, 128…")
    mode: Mode = Field("weight_only", description="what is quantized when the model runs")
    skip: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SKIP), description="tensor name patterns kept in full precision"
    )
    layer_bits: dict[str, Annotated[int, Field(ge=2, le=8)]] = Field(
        default_factory=dict, description="tensor name pattern → bits, overriding bits per layer"
    )

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
        return (
            tensor.dim() == 2
            and tensor.is_floating_point()
            and name.endswith("weight")
            and self.bits_for(name) is not None
        )


def preset(name: str) -> Scheme:
    """``int8``, ``int8-tensor``, ``int4-g32``, ``int4-g128-asym``, ``int3-g64``…: a scheme by
    its short name (bits; ``-tensor`` / ``-channel`` / ``-gN``; ``-asym``). A name that is not
    one raises ValueError with one readable line."""
    parts = name.strip().lower().split("-")
    if not parts[0].startswith("int") or not parts[0][3:].isdigit():
        raise ValueError(f"not a scheme name: {name.strip()!r} (try int8, int4-g32, int4-g128-asym)")
    fields: dict = {"bits": int(parts[0][3:])}
    if not 2 <= fields["bits"] <= 8:
        raise ValueError(f"{name.strip()!r}: the bits go from 2 to 8 (int2 … int8), not {fields['bits']}")
    for part in parts[1:]:
        if part == "asym":
            fields["symmetric"] = False
        elif part in ("tensor", "channel"):
            fields["granularity"] = part
        elif part.startswith("g") and part[1:].isdigit():
            if int(part[1:]) < 2:
                raise ValueError(f"{name.strip()!r}: a group holds at least 2 values (g32, g64, g128…)")
            fields.update(granularity="group", group_size=int(part[1:]))
        else:
            raise ValueError(
                f"{name.strip()!r}: unknown part {part!r} (parts: -tensor, -channel, -g<size> such as -g32, -asym)"
            )
    return Scheme(**fields)


def scheme_problems(names: str) -> list[str]:
    """What is wrong with a comma-separated list of scheme names, one line per problem
    (empty: every name is a scheme)."""
    listed = [n.strip() for n in names.split(",") if n.strip()]
    if not listed:
        return ["name at least one scheme: int8, int4-g32, int4-g128-asym…"]
    problems = []
    for name in listed:
        try:
            preset(name)
        except ValueError as exc:  # pydantic's ValidationError is one too
            problems.append(str(exc))
    return problems
