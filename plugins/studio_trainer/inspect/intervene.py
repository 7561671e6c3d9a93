"""Interventions: ablate a head or a layer's part (zero, or its mean over the positions),
or patch the residual stream at one position from a second prompt; re-run and measure the
change of the next-token distribution. Each is a PyTorch hook on a registry-defined
submodule, removed after the run, so the model is never changed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from studio.api import read_json, write_json

from .capture import capture, submodule
from .hooking import on_input, on_output
from .inspection import InspectError, Inspection
from .steering import Steering, steering_hook

FORMAT = "studio.intervention/1"
MODES = ("zero", "mean")
LAYER_PARTS = ("attn", "mlp", "block")


@dataclass
class HeadAblation:
    layer: int
    head: int
    mode: str = "zero"  # "zero" | "mean" (the head's output averaged over the positions)


@dataclass
class LayerAblation:
    layer: int
    part: str = "block"  # "attn" | "mlp" | "block" (the block's whole update)
    mode: str = "zero"


@dataclass
class ResidualPatch:
    layer: int  # 0: the embeddings (block 0's input); l: after block l-1
    position: int
    source_text: str
    source_position: int | None = None  # None: the same position, or the source's last if shorter


@dataclass
class Effect:
    kl: float  # KL(before ‖ after) of the next-token distribution at the position, nats
    logprob_before: float  # of the chosen token
    logprob_after: float
    delta: float
    top_before: list[tuple[str, float]] = field(default_factory=list)  # (token, probability)
    top_after: list[tuple[str, float]] = field(default_factory=list)
    position: int = -1
    target_id: int = -1


Intervention = HeadAblation | LayerAblation | ResidualPatch | Steering
KINDS: dict[str, type] = {"head": HeadAblation, "layer": LayerAblation, "patch": ResidualPatch}


def _mode(mode: str) -> str:
    if mode not in MODES:
        raise InspectError(f"ablation mode {mode!r}: use one of {', '.join(MODES)}")
    return mode


def _replace(values: torch.Tensor, mode: str, mean: torch.Tensor | None = None) -> torch.Tensor:
    """Zeros, the stored ``mean`` (a program file's: per position, so it works one position
    at a time), or the values' own mean over the positions."""
    if mode == "zero":
        return torch.zeros_like(values)
    if mean is not None:
        return mean.to(device=values.device, dtype=values.dtype).expand_as(values)
    return values.mean(dim=1, keepdim=True).expand_as(values)


def _hooks(model: Any, inspection: Inspection | None, item: Intervention, mean: torch.Tensor | None = None) -> list:
    """Register the hooks of one intervention; returns their handles. ``mean``: a stored
    mean for a "mean" ablation (a program file's), instead of the positions' own."""
    blocks = model.blocks
    L = len(blocks)
    if isinstance(item, Steering):
        change = steering_hook(model, item)  # checks the layer and the vector's width first
        return [on_output(blocks[item.layer], change, position_wise=True)]
    if not isinstance(item, (HeadAblation, LayerAblation, ResidualPatch)):
        raise InspectError(f"not an intervention: {item!r}")
    if not 0 <= item.layer <= (L if isinstance(item, ResidualPatch) else L - 1):
        raise InspectError(f"layer {item.layer} is out of range for a model of {L} layers")
    # zeros, or a stored mean, change each position alone: generation keeps its key/value
    # cache with such hooks (``kv_cache.supports_cache``); the positions' own mean does not
    position_wise = getattr(item, "mode", "") == "zero" or mean is not None
    if isinstance(item, HeadAblation):
        mode = _mode(item.mode)
        attn = submodule(blocks[item.layer], "attn")
        proj = submodule(attn, "proj") if attn is not None else None
        n_head = getattr(attn, "n_head", None)
        if proj is None or not isinstance(n_head, int):
            raise InspectError("single heads cannot be ablated: the attention type has no proj / n_head")
        if not 0 <= item.head < n_head:
            raise InspectError(f"head {item.head} is out of range (0 to {n_head - 1})")

        def head_hook(heads: torch.Tensor) -> torch.Tensor:
            y = heads.clone()
            D = y.size(-1) // n_head
            cols = slice(item.head * D, (item.head + 1) * D)
            y[..., cols] = _replace(y[..., cols], mode, mean)
            return y

        return [on_input(proj, head_hook, position_wise)]
    if isinstance(item, LayerAblation):
        mode = _mode(item.mode)
        if item.part not in LAYER_PARTS:
            raise InspectError(f"layer part {item.part!r}: use one of {', '.join(LAYER_PARTS)}")
        if item.part == "block":

            def block_hook(x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
                return x + _replace(output - x, mode, mean)

            return [on_output(blocks[item.layer], block_hook, position_wise)]
        module = submodule(blocks[item.layer], item.part)
        if module is None:
            raise InspectError(f"layer {item.layer}'s block has no {item.part}")

        def part_hook(_x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
            return _replace(output, mode, mean)

        return [on_output(module, part_hook, position_wise)]
    # a residual patch
    if inspection is None:
        raise InspectError("a residual patch needs the inspected text (it is tied to its positions)")
    T = inspection.T
    position = item.position + T if item.position < 0 else item.position
    if not 0 <= position < T:
        raise InspectError(f"position {item.position} is out of range (the text is {T} tokens)")
    source_ids = inspection._tokenizer.encode(item.source_text) if item.source_text else []
    if not source_ids:
        raise InspectError("the patch's source prompt is empty (or none of its characters are in the vocabulary)")
    if len(source_ids) > model.config.block_size:
        raise InspectError(f"the source prompt is {len(source_ids)} tokens; the context is {model.config.block_size}")
    if item.source_position is None:
        src = min(position, len(source_ids) - 1)
    else:
        src = item.source_position + len(source_ids) if item.source_position < 0 else item.source_position
        if not 0 <= src < len(source_ids):
            raise InspectError(f"source position {item.source_position} is out of range ({len(source_ids)} tokens)")
    vector = capture(model, torch.tensor([source_ids])).resid[item.layer, src]

    def patched(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[:, position] = vector.to(x.dtype)
        return x

    if item.layer == 0:
        return [on_input(blocks[0], patched)]
    return [on_output(blocks[item.layer - 1], lambda _x, output: patched(output))]


@torch.no_grad()
def next_token_logprobs(model: Any, ids: list[int], position: int, hooks: list | None = None) -> torch.Tensor:
    """log p(· | ids[≤position]) from a full forward pass over ``ids`` (hooks already set)."""
    seen: dict[str, torch.Tensor] = {}

    def keep(_x, output):
        seen["h"] = output[0, position]

    handle = on_output(model.ln_f, keep)
    try:
        model(torch.tensor([ids]))
    finally:
        handle.remove()
    return F.log_softmax(model.lm_head(seen["h"]).float(), dim=-1)


@torch.no_grad()
def intervene(inspection: Inspection, interventions: list, position: int = -1, target_id: int | None = None) -> Effect:
    """The change the interventions make to the next-token distribution at ``position``;
    the chosen token is ``target_id``, else the actual next token, else (at the last
    position) the likeliest one before the intervention."""
    model = inspection._model
    if model is None:
        raise InspectError("interventions need the model: this inspection was loaded without it (inspect again)")
    T = inspection.T
    pos = position + T if position < 0 else position
    if not 0 <= pos < T:
        raise InspectError(f"position {position} is out of range (the text is {T} tokens)")
    before = next_token_logprobs(model, inspection.ids, pos)
    if target_id is None:
        target_id = inspection.ids[pos + 1] if pos + 1 < T else int(before.argmax())
    if not 0 <= target_id < before.numel():
        raise InspectError(f"token id {target_id} is outside the vocabulary ({before.numel()})")
    handles: list = []
    try:
        for item in interventions:
            handles += _hooks(model, inspection, item)
        after = next_token_logprobs(model, inspection.ids, pos)
    finally:
        for handle in handles:
            handle.remove()
    p = before.exp()
    kl = float((p * (before - after)).sum().clamp_min(0.0))
    return Effect(
        kl=kl,
        logprob_before=float(before[target_id]),
        logprob_after=float(after[target_id]),
        delta=float(after[target_id] - before[target_id]),
        top_before=_top(inspection, before),
        top_after=_top(inspection, after),
        position=pos,
        target_id=int(target_id),
    )


def _top(inspection: Inspection, logp: torch.Tensor, k: int = 10) -> list[tuple[str, float]]:
    values, indices = logp.topk(min(k, logp.numel()))
    return [(inspection.token(int(i)), float(v.exp())) for v, i in zip(values, indices, strict=True)]


def save_interventions(path: Path, interventions: list) -> Path:
    """A small readable file: ``{"format": "studio.intervention/1", "interventions": [...]}``."""
    kind_of = {cls: name for name, cls in KINDS.items()}
    items = [{"kind": kind_of[type(item)], **asdict(item)} for item in interventions]
    write_json(Path(path), {"format": FORMAT, "interventions": items})
    return Path(path)


def load_interventions(path: Path) -> list:
    data = read_json(Path(path))
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("interventions"), list):
        raise InspectError(f"{path} is not an intervention file ({FORMAT})")
    items = []
    for entry in data["interventions"]:
        try:
            fields = dict(entry)
            _check_types(fields)
            items.append(KINDS[fields.pop("kind")](**fields))
        except (KeyError, TypeError, ValueError) as exc:
            raise InspectError(f"{path}: an intervention cannot be read ({exc!r})") from None
    return items


def _check_types(fields: dict[str, Any]) -> None:
    """A file's "0" or 0.5 as a layer would pass the dataclass and fail in a hook as a
    TypeError: whole numbers and text are checked here, where the file is named."""
    for name, value in fields.items():
        if name in ("layer", "head", "position", "source_position"):
            if type(value) is not int and not (name == "source_position" and value is None):
                raise ValueError(f"{name} {value!r} is not a whole number")
        elif name in ("kind", "mode", "part", "source_text") and not isinstance(value, str):
            raise ValueError(f"{name} {value!r} is not text")
