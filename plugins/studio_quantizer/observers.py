"""Observers: the activation range a static scheme fixes, from calibration data.

* ``minmax`` — the smallest and largest value seen. Exact on the calibration data; one
  outlier stretches the grid for every other value.
* ``percentile`` — the ``p``-th and ``(100 − p)``-th percentiles (99.99 by default):
  outliers are clipped, the rest get a finer grid.
* ``mse`` — the clipping of the min-max range (a search over 64 fractions) whose 8-bit
  round trip has the least squared error on the data itself.

Values are kept as a bounded random sample per layer (``Observer.update``), so memory does
not grow with the calibration set.
"""

from __future__ import annotations

import torch

from .affine import dequantize, qparams, quantize
from .scheme import ObserverKind

SAMPLE = 200_000


class Observer:
    def __init__(self, kind: ObserverKind = "minmax", percentile: float = 99.99, seed: int = 0):
        self.kind, self.percentile = kind, percentile
        self.min = float("inf")
        self.max = float("-inf")
        self.samples: list[torch.Tensor] = []
        self.seen = 0
        self.generator = torch.Generator().manual_seed(seed)

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().float().reshape(-1)
        if x.numel() == 0:
            return
        self.min, self.max = min(self.min, float(x.min())), max(self.max, float(x.max()))
        self.seen += x.numel()
        keep = min(x.numel(), SAMPLE // 8)
        index = torch.randint(x.numel(), (keep,), generator=self.generator)
        self.samples.append(x[index])
        if sum(s.numel() for s in self.samples) > SAMPLE:
            pooled = torch.cat(self.samples)
            self.samples = [pooled[torch.randperm(pooled.numel(), generator=self.generator)[:SAMPLE]]]

    def range(self) -> tuple[float, float]:
        if self.seen == 0:
            raise ValueError("the observer saw no data: the calibration set is empty")
        if self.kind == "minmax":
            return self.min, self.max
        data = torch.cat(self.samples)
        if self.kind == "percentile":
            q = torch.tensor([(100 - self.percentile) / 100, self.percentile / 100])
            low, high = torch.quantile(data, q).tolist()
            return low, high
        return self._mse_range(data)

    def _mse_range(self, data: torch.Tensor, bits: int = 8) -> tuple[float, float]:
        best, best_error = (self.min, self.max), float("inf")
        for fraction in torch.linspace(0.3, 1.0, 64).tolist():
            low, high = self.min * fraction, self.max * fraction
            scale, zero = qparams(torch.tensor(low), torch.tensor(high), bits, symmetric=False)
            error = float((dequantize(quantize(data, scale, zero, bits, False), scale, zero) - data).pow(2).mean())
            if error < best_error:
                best, best_error = (low, high), error
        return best

    def qparams(self, bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
        low, high = self.range()
        return qparams(torch.tensor(low), torch.tensor(high), bits, symmetric=False)
