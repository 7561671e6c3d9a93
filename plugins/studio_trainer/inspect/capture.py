"""One forward pass with PyTorch hooks on the registry-defined submodules (``blocks[i]``,
``.attn``, ``.attn.proj``, ``.mlp``, ``.mlp.proj``): the residual stream between blocks,
each attention's input and output, the heads' outputs (the input of ``attn.proj``), each
MLP's output and hidden (post-activation) values. Nothing in ``gpt.py`` is edited, so an
attention or block type a plugin adds is captured the same way, as far as it has those parts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass
class Capture:
    resid: torch.Tensor  # [L+1, T, C]: before block 0, then after each block
    attn_in: list[torch.Tensor | None] = field(default_factory=list)  # [T, C] per layer (after ln_1)
    attn_out: list[torch.Tensor | None] = field(default_factory=list)  # [T, C]
    head_in: list[torch.Tensor | None] = field(default_factory=list)  # [T, H*D]: heads side by side
    mlp_out: list[torch.Tensor | None] = field(default_factory=list)  # [T, C]
    mlp_hidden: list[torch.Tensor | None] = field(default_factory=list)  # [T, 4C]
    maps: list[torch.Tensor] | None = None  # [H, T, T] per layer, when asked for


def submodule(module: nn.Module, name: str) -> nn.Module | None:
    part = getattr(module, name, None)
    return part if isinstance(part, nn.Module) else None


def _reuse_projection(attn: Any) -> Callable[[], None]:
    """While the forward pass runs, ``attn.project(x)`` for the same ``x`` again returns what
    the forward pass computed, so ``attention_weights(x)`` called from the attention's hook
    costs only the scores and the softmax, not the q/k/v projections a second time.
    Returns the undo."""
    original = attn.project
    last: dict[str, object] = {}

    def project(x):
        if last.get("x") is not x:
            last["x"], last["out"] = x, original(x)
        return last["out"]

    attn.__dict__["project"] = project  # an instance attribute shadows the method; the class is untouched

    def undo() -> None:
        last.clear()
        attn.__dict__.pop("project", None)

    return undo


def _explicit_attention(attn: Any, store: list, index: int) -> Callable[[], None] | None:
    """For the trainer's own attention forward (``merge(SDPA(project(x)))``, kept by
    cross-correlation too), run it as ``merge(attention_weights(x) @ v)`` while the maps are
    wanted: the same function (a test holds the two equal), but the maps it forms are the
    ones the pass uses, and the fused kernel's work is not done twice. Other attention types
    keep their own forward (their maps come from the hook). Returns the undo, or None."""
    from ..model.gpt import CausalSelfAttention

    if (
        type(attn).forward is not CausalSelfAttention.forward
        or type(attn).merge is not CausalSelfAttention.merge
        or getattr(attn, "kv_cache", None) is not None
        or attn.training
        or "forward" in attn.__dict__
    ):
        return None

    def forward(x: torch.Tensor) -> torch.Tensor:
        _q, _k, v, _scale = attn.project(x)
        weights = attn.attention_weights(x)  # project(x) again: the memo answers
        store[index] = weights[0]
        return attn.merge(weights.to(v.dtype) @ v)

    attn.__dict__["forward"] = forward
    return lambda: attn.__dict__.pop("forward", None)


@torch.no_grad()
def capture(model: Any, ids: torch.Tensor, maps: bool = False) -> Capture:
    """``ids``: (1, T). Runs ``model(ids)`` once; returns what the hooks saw (batch row 0).
    ``maps``: also every attention map, computed in each attention's hook from its input."""
    blocks = list(model.blocks)
    L = len(blocks)
    resid: list[torch.Tensor | None] = [None] * (L + 1)
    attn_in: list[torch.Tensor | None] = [None] * L
    attn_out: list[torch.Tensor | None] = [None] * L
    head_in: list[torch.Tensor | None] = [None] * L
    mlp_out: list[torch.Tensor | None] = [None] * L
    mlp_hidden: list[torch.Tensor | None] = [None] * L
    handles = []
    undo: list[Callable[[], None]] = []
    layer_maps: list[torch.Tensor | None] = [None] * L

    def keep_map(index: int):
        def hook(module, args, _output):
            layer_maps[index] = module.attention_weights(args[0])[0].float()

        return hook

    def keep_input(store: list, index: int):
        def hook(_module, args):
            store[index] = args[0][0]

        return hook

    def keep_output(store: list, index: int, inputs: list | None = None):
        def hook(_module, args, output):
            store[index] = output[0]
            if inputs is not None:
                inputs[index] = args[0][0]

        return hook

    try:
        if blocks:
            handles.append(blocks[0].register_forward_pre_hook(keep_input(resid, 0)))
        for i, block in enumerate(blocks):
            handles.append(block.register_forward_hook(keep_output(resid, i + 1)))
            attn = submodule(block, "attn")
            if attn is not None:
                handles.append(attn.register_forward_hook(keep_output(attn_out, i, attn_in)))
                if maps:
                    if callable(getattr(attn, "project", None)) and "project" not in attn.__dict__:
                        undo.append(_reuse_projection(attn))
                    explicit = _explicit_attention(attn, layer_maps, i)
                    if explicit is not None:
                        undo.append(explicit)
                    else:
                        handles.append(attn.register_forward_hook(keep_map(i)))
                proj = submodule(attn, "proj")
                if proj is not None:
                    handles.append(proj.register_forward_pre_hook(keep_input(head_in, i)))
            mlp = submodule(block, "mlp")
            if mlp is not None:
                handles.append(mlp.register_forward_hook(keep_output(mlp_out, i)))
                proj = submodule(mlp, "proj")
                if proj is not None:
                    handles.append(proj.register_forward_pre_hook(keep_input(mlp_hidden, i)))
        if not blocks:  # no blocks: the residual stream is the embeddings
            handles.append(model.ln_f.register_forward_pre_hook(keep_input(resid, 0)))
        model(ids)
    finally:
        for handle in handles:
            handle.remove()
        for restore in reversed(undo):
            restore()
    return Capture(
        resid=torch.stack([r.float() for r in resid if r is not None]),
        attn_in=attn_in,
        attn_out=attn_out,
        head_in=head_in,
        mlp_out=mlp_out,
        mlp_hidden=mlp_hidden,
        maps=[m for m in layer_maps if m is not None] if maps else None,
    )
