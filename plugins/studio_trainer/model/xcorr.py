"""Cross-correlation attention: scores from query/key correlation over a window of lags.

Standard attention scores a query ``q_i`` against a key ``k_j`` by their dot product, which
is the correlation of the two signals at lag zero. Here each head compares a *window* of
the query's recent history with the same window of the key's history::

    score(i, j) = sum_{tau=0..L-1} w[h, tau] * q_{i-tau} . k_{j-tau} / sqrt(d)

with a learned weight per head and lag (``w[h, 0] = 1``, the rest 0 at initialisation, so
a fresh model starts as standard attention and learns how much context shape matters).
Positions before the start of the sequence are zeros. Only lags ``tau >= 0`` are used and
the usual causal mask keeps ``j <= i``, so every term reads positions ``<= i``: the layer
is causal, and a test changes future tokens to prove it.

How it is computed, on the device, in one fused attention call: stack the lagged copies
along the feature axis, ``Q~_i = [w_0 q_i, w_1 q_{i-1}, ...]`` and ``K~_j = [k_j, k_{j-1}, ...]``,
so that ``Q~_i . K~_j`` is exactly the sum above; then ``scaled_dot_product_attention(Q~,
K~, V)`` with the scale of the original head size. Everything is differentiable, through
the q/k/v projections and the lag weights.

Cost: the score matmul and the Q/K activations grow L-fold (head size d -> L*d); the value
path, the softmax and the T x T score size are unchanged; L extra parameters per head.
With L = 4 and the reference model, a training step costs about 1.3x standard attention
on the CPU (see BENCHMARKS.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from ..config import ModelConfig
from .gpt import CausalSelfAttention
from .kv_cache import KVCache


def lagged(x: torch.Tensor, lags: int) -> torch.Tensor:
    """(B, H, T, D) -> (B, H, T, lags, D): slice tau holds x shifted tau steps into the past."""
    T = x.size(2)
    padded = F.pad(x, (0, 0, lags - 1, 0))  # zeros before the first position
    return torch.stack([padded[:, :, lags - 1 - tau : lags - 1 - tau + T] for tau in range(lags)], dim=3)


class CrossCorrelationAttention(CausalSelfAttention):
    caches_kv = True  # ``project_cached`` below forms the windows of new positions from the cache

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.lags = config.xcorr_lags
        weights = torch.zeros(config.n_head, self.lags)
        weights[:, 0] = 1.0
        self.lag_weight = nn.Parameter(weights)

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """The lag windows as queries and keys, at the scale of the original head size."""
        q, k, v = self.heads(x)
        B, H, T, D = q.shape
        w = self.lag_weight.to(q.dtype).view(1, H, 1, self.lags, 1)
        q_window = (lagged(q, self.lags) * w).reshape(B, H, T, self.lags * D)
        k_window = lagged(k, self.lags).reshape(B, H, T, self.lags * D)
        return q_window, k_window, v, 1.0 / math.sqrt(D)

    def project_cached(self, x: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """``project`` for new positions after ``cache.pos`` stored ones. The windows of a new
        position reach ``lags - 1`` positions back, so the raw queries and keys are cached
        too: the new windows are formed from them (zeros before the first position, as in
        ``project``), and the key windows of every position so far are cached as keys."""
        q, k, v = self.heads(x)
        B, H, T, D = q.shape
        start = max(0, cache.pos - (self.lags - 1))
        q_hist = cache.extend(self, "q_raw", q)[:, :, start:]  # the new positions and lags-1 before
        k_hist = cache.extend(self, "k_raw", k)[:, :, start:]
        w = self.lag_weight.to(q.dtype).view(1, H, 1, self.lags, 1)
        q_window = (lagged(q_hist, self.lags)[:, :, -T:] * w).reshape(B, H, T, self.lags * D)
        k_window = lagged(k_hist, self.lags)[:, :, -T:].reshape(B, H, T, self.lags * D)
        return q_window, cache.extend(self, "k", k_window), cache.extend(self, "v", v), 1.0 / math.sqrt(D)
