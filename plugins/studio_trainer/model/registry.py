"""The registry of attention types and blocks a model can be built from.

Built-ins are listed here; plugins add their own through the ``studio_model_parts`` hook
(see ``studio.api.ModelPart``). The registry is looked up by id when a model is built, in
whatever process builds it, so a checkpoint that names a plugin's attention loads wherever
that plugin is installed, and says which plugin is missing where it is not.
"""

from __future__ import annotations

from studio.api import ModelPart, contributions, resolve

BUILTIN_PARTS = [
    ModelPart(
        "causal",
        "attention",
        "Causal self-attention",
        "studio_trainer.model.gpt:CausalSelfAttention",
        "multi-head dot-product attention (scaled_dot_product_attention)",
    ),
    ModelPart(
        "xcorr",
        "attention",
        "Cross-correlation attention",
        "studio_trainer.model.xcorr:CrossCorrelationAttention",
        "scores from query/key cross-correlation over a window of lags",
    ),
    ModelPart(
        "pre_ln", "block", "Pre-LayerNorm block", "studio_trainer.model.gpt:Block", "x + attn(ln(x)), x + mlp(ln(x))"
    ),
]


def parts(kind: str | None = None) -> list[ModelPart]:
    """Built-in parts first, then those of installed plugins (the first of an id wins)."""
    found, seen = [], set()
    for part in [*BUILTIN_PARTS, *contributions("studio_model_parts")]:
        if (part.kind, part.id) in seen or (kind is not None and part.kind != kind):
            continue
        seen.add((part.kind, part.id))
        found.append(part)
    return found


def find(kind: str, part_id: str) -> ModelPart:
    for part in BUILTIN_PARTS:  # no plugin discovery for the built-ins
        if part.kind == kind and part.id == part_id:
            return part
    for part in parts(kind):
        if part.id == part_id:
            return part
    known = ", ".join(p.id for p in parts(kind))
    raise ValueError(
        f"unknown {kind} type {part_id!r}: known are {known}. If a plugin provides it, install or enable that plugin."
    )


def make_attention(config):
    return resolve(find("attention", config.attention).factory)(config)


def make_block(config, layer_index: int):
    return resolve(find("block", config.block).factory)(config, layer_index)
