"""LoRA: fine-tune a frozen linear layer through a low-rank update ``W + (alpha/r) B A``.

``apply_lora`` swaps the chosen linear modules (matched by name suffix, such as
``attn.qkv`` or ``q_proj``) for ``LoRALinear`` wrappers and freezes everything else. A
linear module is an ``nn.Linear`` (weight ``[out, in]``) or transformers' ``Conv1D``, which
GPT-2 uses (weight ``[in, out]``, ``y = x W + b``): recognised by name and shape, so this
module needs no transformers import. ``B`` starts at zero, so the adapted model starts
exactly equal to the base. ``merge_lora`` folds the update back into the plain module's
weight (transposed for a Conv1D), giving a normal model with no LoRA code needed.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def is_conv1d(module: nn.Module) -> bool:
    """transformers' ``Conv1D`` (GPT-2's projections): a linear layer with its weight stored [in, out]."""
    weight = getattr(module, "weight", None)
    return (
        type(module).__name__ == "Conv1D"
        and isinstance(weight, torch.Tensor)
        and weight.dim() == 2
        and getattr(module, "nf", None) == weight.size(1)
    )


def is_linear(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or is_conv1d(module)


def features(module: nn.Module) -> tuple[int, int]:
    """(in, out) features of an ``nn.Linear`` or a ``Conv1D``."""
    weight: torch.Tensor = module.weight  # type: ignore[assignment]
    if is_conv1d(module):
        return int(weight.size(0)), int(weight.size(1))
    return int(weight.size(1)), int(weight.size(0))


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Module, rank: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        self.base = base
        self.rank = rank
        self.scaling = alpha / rank
        n_in, n_out = features(base)
        weight: torch.Tensor = base.weight  # type: ignore[assignment]
        self.lora_A = nn.Parameter(torch.empty(rank, n_in, device=weight.device, dtype=weight.dtype))
        self.lora_B = nn.Parameter(torch.zeros(n_out, rank, device=weight.device, dtype=weight.dtype))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout)
        weight.requires_grad_(False)
        if getattr(base, "bias", None) is not None:
            base.bias.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = self.dropout(x).to(self.lora_A.dtype) @ self.lora_A.t() @ self.lora_B.t()
        return self.base(x) + (update * self.scaling).to(x.dtype)

    def delta(self) -> torch.Tensor:
        """The update in the base weight's own layout ([out, in]; [in, out] for a Conv1D)."""
        update = (self.lora_B @ self.lora_A) * self.scaling
        return update.t() if is_conv1d(self.base) else update

    def merged(self) -> nn.Module:
        weight: torch.Tensor = self.base.weight  # type: ignore[assignment]
        with torch.no_grad():
            weight += self.delta().to(weight.dtype)
        weight.requires_grad_(True)
        return self.base


def apply_lora(model: nn.Module, rank: int, alpha: float, targets: list[str], dropout: float = 0.0) -> list[str]:
    """Wrap the matching linear layers; returns their names. Raises if nothing matches."""
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = []
    for name, module in list(model.named_modules()):
        if is_linear(module) and any(name == t or name.endswith("." + t) for t in targets):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, LoRALinear(module, rank, alpha, dropout))
            wrapped.append(name)
    if not wrapped:
        linear = sorted({_suffix(n) for n, m in model.named_modules() if is_linear(m)})
        raise ValueError(f"no linear layer matches the LoRA targets {targets}; candidates: {', '.join(linear)}")
    return wrapped


def _suffix(name: str) -> str:
    """A module's name after its layer number: ``blocks.3.attn.qkv`` → ``attn.qkv``,
    ``model.layers.0.self_attn.q_proj`` → ``self_attn.q_proj`` (what a target may name)."""
    parts = name.split(".")
    numbers = [i for i, part in enumerate(parts) if part.isdigit()]
    return ".".join(parts[numbers[-1] + 1 :]) if numbers else name


def merge_lora(model: nn.Module) -> int:
    """Replace every LoRALinear by its merged base layer; returns how many were merged."""
    count = 0
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.merged())
            count += 1
    for p in model.parameters():
        p.requires_grad_(True)
    return count
