"""A steering direction: a vector added to the residual stream after one block, at every
position, scaled. Made from two prompts (``steering_from``): the mean over positions of
prompt A's residual stream after the block minus prompt B's (the mean, not the last
position, so prompts of different lengths and wordings give a direction of their content,
not of one token)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .capture import capture
from .inspection import InspectError

#: how ``steering_from`` reduces a prompt's residual stream over its positions
REDUCE = "mean"


@dataclass(eq=False)
class Steering:
    layer: int  # the block after which the vector is added (0 .. n_layer-1)
    vector: torch.Tensor  # [n_embd]
    scale: float = 1.0
    made_from: dict[str, Any] = field(default_factory=dict)  # {"text_a", "text_b", "reduce"}: where it came from


def check_steering(model: Any, item: Steering) -> None:
    L = len(model.blocks)
    if not 0 <= item.layer < L:
        raise InspectError(f"layer {item.layer} is out of range for a model of {L} layers")
    width = int(model.config.n_embd)
    if item.vector.dim() != 1 or item.vector.numel() != width:
        raise InspectError(
            f"the steering vector has shape {list(item.vector.shape)}; the model's residual stream is {width} wide"
        )


def steering_hook(model: Any, item: Steering):
    """The change for ``blocks[item.layer]``'s output adding ``scale * vector`` at every
    position (one position at a time or the whole sequence: it works with the key/value
    cache): ``fn(input, output) -> output``, for ``hooking.on_output``."""
    check_steering(model, item)
    added = (item.vector.float() * float(item.scale)).detach()

    def fn(_x, output):
        return output + added.to(device=output.device, dtype=output.dtype)

    return fn


@torch.no_grad()
def steering_between(model: Any, tokenizer: Any, text_a: str, text_b: str, layer: int, scale: float = 1.0) -> Steering:
    """``steering_from`` with a loaded model."""
    L = len(model.blocks)
    if not 0 <= layer < L:
        raise InspectError(f"layer {layer} is out of range for a model of {L} layers")
    means = []
    for name, text in (("A", text_a), ("B", text_b)):
        ids = tokenizer.encode(text) if text else []
        if not ids:
            raise InspectError(f"prompt {name} is empty (or none of its characters are in the vocabulary)")
        context = int(model.config.block_size)
        if len(ids) > context:
            raise InspectError(f"prompt {name} is {len(ids)} tokens; the context is {context}: shorten it")
        means.append(capture(model, torch.tensor([ids])).resid[layer + 1].mean(dim=0))
    made_from = {"text_a": text_a, "text_b": text_b, "reduce": REDUCE}
    return Steering(layer, (means[0] - means[1]).float(), float(scale), made_from)


def steering_from(
    model_ref: str | Path, text_a: str, text_b: str, layer: int, scale: float = 1.0, folders: Any = None
) -> Steering:
    """The direction from prompt B to prompt A in the residual stream after block ``layer``
    of the model ``model_ref`` (a run id, checkpoint folder or ``studio/<that>``): A's mean
    over positions minus B's."""
    from .load import load_model

    loaded = load_model(model_ref, folders)
    steering = steering_between(loaded.model, loaded.tokenizer, text_a, text_b, layer, scale)
    steering.made_from["model"] = loaded.ref
    return steering
