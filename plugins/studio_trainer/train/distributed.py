"""Data-parallel training over several processes (``torchrun``, DistributedDataParallel).

When the loop runs in a process group (one process per device, ``torch.distributed``
initialised by the launcher), each process draws its own batches (its data seed is offset
by its rank), backward averages the gradients over all processes, so every process holds
the same weights after each step, and only rank 0 logs and saves. A checkpoint keeps every
rank's data position and RNG, so a resumed run continues exactly. In a single process —
the studio's own jobs — the world is one process and these helpers change nothing.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def data_parallel(model: torch.nn.Module, device: str) -> torch.nn.Module:
    """The module to call: ``model`` itself in one process, else wrapped in DDP (which also
    copies rank 0's initial weights to every rank)."""
    if world_size() == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[torch.cuda.current_device()] if device == "cuda" else None)


def without_gradient_sync(model: Any):
    """For the micro-batches before the last one of an accumulated step: no all-reduce in
    their backward (DDP's ``no_sync``); gradients are averaged once, after the last."""
    return model.no_sync() if hasattr(model, "no_sync") else nullcontext()


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    if world_size() == 1:
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total / world_size()


def any_rank(flag: bool, device: str) -> bool:
    """True on every rank if ``flag`` is true on any (a collective): a cancel that reaches
    rank 0 stops every rank at the same step."""
    if world_size() == 1:
        return flag
    value = torch.tensor([int(flag)], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def gather(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (a collective: every rank must call it)."""
    if world_size() == 1:
        return [obj]
    objects: list[Any] = [None] * world_size()
    dist.all_gather_object(objects, obj)
    return objects


def rank_prefix(rank: int) -> str:
    """How a rank's own state (data position, RNG) is named in a checkpoint: rank 0's keys
    are unprefixed, so single-process checkpoints and multi-process ones read alike."""
    return f"rank{rank}." if rank else ""
