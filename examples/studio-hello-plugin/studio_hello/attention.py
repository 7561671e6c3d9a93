"""An attention type for the trainer: ``hello.decay``, chosen in a model config by its id
(``--set model.attention=hello.decay``).

Each position mixes the values of itself and the positions before it, with weights that
fall off by a learned factor per step back (one per head): weight(t, s) is proportional to
``decay ** (t - s)`` for ``s <= t`` and 0 for ``s > t``. The trainer builds it as
``DecayAttention(config)`` with its model config (``n_embd``, ``n_head``, ``bias``…); it
maps ``(B, T, C)`` to ``(B, T, C)`` and is causal: position t reads only positions <= t.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


class DecayAttention(nn.Module):
    def __init__(self, config: Any):
        super().__init__()
        self.n_head = config.n_head
        self.value = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.rate = nn.Parameter(torch.zeros(config.n_head))  # decay = sigmoid(rate): 0.5 per step at first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        v = self.value(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, H, T, D)
        position = torch.arange(T, device=x.device)
        back = (position.view(T, 1) - position.view(1, T)).to(v.dtype)  # t - s
        scores = back * F.logsigmoid(self.rate).to(v.dtype).view(-1, 1, 1)  # (H, T, T): log(decay ** (t - s))
        weights = torch.softmax(scores.masked_fill(back < 0, float("-inf")), dim=-1)  # the future gets 0
        y = weights @ v  # (B, H, T, D)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))
