"""A key/value cache for generation, so each new token costs one position, not the context.

Without it every sampled token recomputes the whole context. With it, ``GPT.generate``
runs the prompt once (prefill), then one position per token: the attention modules keep
the keys and values (and whatever else their ``project`` needs from the past) of earlier
positions in a ``KVCache`` that generation attaches to them as the attribute ``kv_cache``
for its duration. The forward signatures of blocks and attention types stay as the
registry documents them; an attention type opts in by reading ``self.kv_cache`` in its
forward (``CausalSelfAttention`` and ``CrossCorrelationAttention`` do). A model with any
part that does not (a plugin's attention type, a block type of its own, or forward hooks
that may expect whole sequences) generates without a cache, exactly as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn


class KVCache:
    """Per-module buffers of past positions, preallocated to the context length.

    ``pos`` is the number of positions already stored; the model's step sets it before a
    forward over positions ``pos .. pos + T`` and advances it after (``advance``)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.pos = 0
        self._buffers: dict[tuple[int, str], torch.Tensor] = {}

    def extend(self, owner: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
        """Store ``x`` (B, H, T, D) at positions ``pos .. pos+T`` of ``owner``'s buffer ``name``
        and return the buffer's positions ``0 .. pos+T`` (a view, no copy)."""
        T = x.size(2)
        if self.pos + T > self.capacity:
            raise ValueError(f"the cache holds {self.capacity} positions; {self.pos + T} asked")
        key = (id(owner), name)
        buf = self._buffers.get(key)
        if buf is None or buf.shape[:2] != x.shape[:2] or buf.shape[3] != x.size(3) or buf.dtype != x.dtype:
            buf = x.new_zeros(x.size(0), x.size(1), self.capacity, x.size(3))
            self._buffers[key] = buf
        buf[:, :, self.pos : self.pos + T] = x
        return buf[:, :, : self.pos + T]

    def attention_options(self, n: int, device: torch.device) -> dict:
        """``scaled_dot_product_attention`` keywords for ``n`` new queries after ``pos`` stored
        positions: causal from the start; a single new query sees everything; otherwise an
        explicit mask (the fused ``is_causal`` aligns to the top left, wrong with a past)."""
        if self.pos == 0:
            return {"is_causal": True}
        if n == 1:
            return {}
        rows = torch.arange(n, device=device).view(-1, 1) + self.pos
        return {"attn_mask": torch.arange(self.pos + n, device=device).view(1, -1) <= rows}

    def advance(self, n: int) -> None:
        self.pos += n


def supports_cache(model: nn.Module) -> bool:
    """Whether every block and attention module of ``model`` computes correctly from a cache:
    the block is the registry's pre-LN ``Block`` (position-wise but for its attention), each
    attention class's forward and ``project`` come from a class that declares
    ``caches_kv = True`` (a subclass that overrides them without declaring it is not
    trusted, nor one whose instance has them replaced), and no forward hooks are registered
    (they may expect whole sequences) but those marked ``position_wise`` (a program's
    interventions: each position changed alone, so one new position at a time is right)."""
    from .gpt import Block

    blocks = getattr(model, "blocks", None)
    if blocks is None:
        return False
    for block in blocks:
        if type(block).forward is not Block.forward:
            return False
        if not _declares_cache(type(block.attn)):
            return False
        if {"forward", "project", "heads"} & block.attn.__dict__.keys():  # replaced on the instance (inspection)
            return False
    return all(
        getattr(hook, "position_wise", False) is True
        for m in model.modules()
        for hook in (*m._forward_hooks.values(), *m._forward_pre_hooks.values())
    )


def _declares_cache(cls: type) -> bool:
    owner = next((c for c in cls.__mro__ if "caches_kv" in c.__dict__), None)
    if owner is None or not owner.__dict__["caches_kv"]:
        return False
    depth = cls.__mro__.index(owner)
    for name in ("forward", "project", "heads"):  # none overridden below the declaring class
        definer = next((c for c in cls.__mro__ if name in c.__dict__), None)
        if definer is not None and cls.__mro__.index(definer) < depth:
            return False
    return True


@contextmanager
def attached(model: nn.Module, cache: KVCache) -> Iterator[KVCache]:
    """Give every attention module ``cache`` as ``kv_cache`` for the duration, and take it
    back even when generation stops with an exception (a cancelled job)."""
    modules = [block.attn for block in model.blocks]  # type: ignore[union-attr]
    for m in modules:
        m.kv_cache = cache
    try:
        yield cache
    finally:
        for m in modules:
            m.__dict__.pop("kv_cache", None)
