"""Curves of scalar metrics, as the Metrics panel keeps them: growable arrays with a
debiased moving average. Qt-free, so the smoothing and exports are tested without widgets."""

from __future__ import annotations

import math

import numpy as np


def short_label(run_id: str) -> str:
    """``20261122-045704-diagnostics.stream-3322`` → ``04:57:04 diagnostics.stream 3322``."""
    parts = run_id.split("-")
    if len(parts) >= 4 and len(parts[1]) == 6 and parts[1].isdigit():
        t = parts[1]
        return f"{t[:2]}:{t[2:4]}:{t[4:]} {'-'.join(parts[2:-1])} {parts[-1]}"
    return run_id


class Series:
    """One metric of one run: growable arrays of steps, values and smoothed values."""

    def __init__(self, alpha: float = 0.0):
        self.x = np.empty(256)
        self.y = np.empty(256)
        self.s = np.empty(256)
        self.n = 0
        self.alpha = alpha
        self._ema = 0.0

    def extend(self, xs: list[float], ys: list[float]) -> None:
        k = len(xs)
        if self.n + k > len(self.x):
            size = max(2 * len(self.x), self.n + k)
            for name in ("x", "y", "s"):
                grown = np.empty(size)
                grown[: self.n] = getattr(self, name)[: self.n]
                setattr(self, name, grown)
        self.x[self.n : self.n + k] = xs
        self.y[self.n : self.n + k] = ys
        self._smooth_from(self.n, self.n + k)
        self.n += k

    def set_alpha(self, alpha: float) -> None:
        if alpha != self.alpha:
            self.alpha, self._ema = alpha, 0.0
            self._smooth_from(0, self.n)

    def _smooth_from(self, start: int, end: int) -> None:
        a = self.alpha
        if a <= 0:
            self.s[start:end] = self.y[start:end]
            return
        ema, y, s = self._ema, self.y, self.s
        for i in range(start, end):
            v = y[i]
            if math.isfinite(v):
                ema = a * ema + (1 - a) * v
            s[i] = ema / (1 - a ** (i + 1))  # debiased: the first points are not pulled to 0
        self._ema = ema

    def arrays(self, smoothed: bool) -> tuple[np.ndarray, np.ndarray]:
        return self.x[: self.n], (self.s if smoothed else self.y)[: self.n]

    def nearest(self, x: float) -> tuple[float, float] | None:
        if self.n == 0:
            return None
        xs = self.x[: self.n]
        i = int(np.argmin(np.abs(xs - x)))
        return xs[i], self.s[i]

    def csv_rows(self) -> list[tuple[str, str, str]]:
        """(step, value, smoothed) per point, as the CSV export writes them."""
        x, y = self.arrays(False)
        _, s = self.arrays(True)
        rows = zip(x.tolist(), y.tolist(), s.tolist(), strict=True)
        return [(f"{step:g}", repr(value), repr(smooth)) for step, value, smooth in rows]
