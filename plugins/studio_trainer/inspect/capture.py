"""One forward pass with PyTorch hooks on the registry-defined submodules (``blocks[i]``,
``.attn``, ``.attn.proj``, ``.mlp``, ``.mlp.proj``): the residual stream between blocks,
each attention's input and output, the heads' outputs (the input of ``attn.proj``), each
MLP's output and hidden (post-activation) values. Nothing in ``gpt.py`` is edited, so an
attention or block type a plugin adds is captured the same way, as far as it has those parts."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .hooking import on_input, on_output


@dataclass
class Capture:
    resid: torch.Tensor  # [L+1, T, C]: before block 0, then after each block
    attn_in: list[torch.Tensor | None] = field(default_factory=list)  # [T, C] per layer (after ln_1)
    attn_out: list[torch.Tensor | None] = field(default_factory=list)  # [T, C]
    head_in: list[torch.Tensor | None] = field(default_factory=list)  # [T, H*D]: heads side by side
    mlp_out: list[torch.Tensor | None] = field(default_factory=list)  # [T, C]
    mlp_hidden: list[torch.Tensor | None] = field(default_factory=list)  # [T, 4C]
    maps: list[torch.Tensor] | None = None  # [H, T, T] per layer, when asked for
    logits: torch.Tensor | None = None  # [T, V]: the pass's own logits at every position


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


def _kept_map(slot: list[torch.Tensor], block: nn.Module, x: torch.Tensor | None) -> torch.Tensor | None:
    """A layer's map the pass kept, else (its attention ran under another function) computed from its input."""
    if slot:
        return slot[-1][0].float()
    weights = getattr(submodule(block, "attn"), "attention_weights", None)
    if not callable(weights) or x is None:
        return None
    return weights(x.unsqueeze(0))[0].float()


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

    def keep_map(index: int, module: Any):
        def fn(x, _output):
            layer_maps[index] = module.attention_weights(x)[0].float()

        return fn

    def keep_input(store: list, index: int):
        def fn(x):
            store[index] = x[0]

        return fn

    def keep_output(store: list, index: int, inputs: list | None = None):
        def fn(x, output):
            store[index] = output[0]
            if inputs is not None:
                inputs[index] = x[0]

        return fn

    # a model that keeps its maps while the pass computes them (the Hugging Face view's
    # attention function): no hook re-runs any attention
    keeper = getattr(model, "keep_attention_maps", None) if maps else None
    kept: list[list[torch.Tensor]] | None = None
    with contextlib.ExitStack() as stack:
        try:
            if blocks:
                handles.append(on_input(blocks[0], keep_input(resid, 0)))
            if keeper is not None:
                kept = stack.enter_context(keeper())
            for i, block in enumerate(blocks):
                handles.append(on_output(block, keep_output(resid, i + 1)))
                attn = submodule(block, "attn")
                if attn is not None:
                    handles.append(on_output(attn, keep_output(attn_out, i, attn_in)))
                    if maps and keeper is None:
                        if callable(getattr(attn, "project", None)) and "project" not in attn.__dict__:
                            undo.append(_reuse_projection(attn))
                        explicit = _explicit_attention(attn, layer_maps, i)
                        if explicit is not None:
                            undo.append(explicit)
                        else:
                            handles.append(on_output(attn, keep_map(i, attn)))
                    proj = submodule(attn, "proj")
                    if proj is not None:
                        handles.append(on_input(proj, keep_input(head_in, i)))
                mlp = submodule(block, "mlp")
                if mlp is not None:
                    handles.append(on_output(mlp, keep_output(mlp_out, i)))
                    proj = submodule(mlp, "proj")
                    if proj is not None:
                        handles.append(on_input(proj, keep_input(mlp_hidden, i)))
            if not blocks:  # no blocks: the residual stream is the embeddings
                handles.append(on_input(model.ln_f, keep_input(resid, 0)))
            # with targets the model computes every position's logits (without, only the last):
            # the last layer's lens and the tokens' log-probabilities are then read off them
            out = model(ids, ids)
        finally:
            for handle in handles:
                handle.remove()
            for restore in reversed(undo):
                restore()
    if kept is not None:
        layer_maps = [_kept_map(slot, blocks[i], attn_in[i]) for i, slot in enumerate(kept)]
    return Capture(
        resid=torch.stack([r.float() for r in resid if r is not None]),
        attn_in=attn_in,
        attn_out=attn_out,
        head_in=head_in,
        mlp_out=mlp_out,
        mlp_hidden=mlp_hidden,
        maps=[m for m in layer_maps if m is not None] if maps else None,
        logits=_all_logits(out, ids.size(1)),
    )


def _all_logits(out: Any, length: int) -> torch.Tensor | None:
    """Batch row 0's logits [T, V] from what the model returned, if it returned them all."""
    logits = out[0] if isinstance(out, tuple) else out
    if isinstance(logits, torch.Tensor) and logits.dim() == 3 and logits.size(1) == length:
        return logits[0]
    return None
