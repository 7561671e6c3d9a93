"""Plot ranges that follow live data in steps, for the Metrics panel.

pyqtgraph's auto-range refits a plot to its data at every update, which regenerates both
axes (tick layout and text): most of a repaint's cost while a run streams, and every
millisecond the GUI paints is taken from training on a small machine. ``RangeFollower``
keeps the data in view but moves the range only in steps — x to the next bound of a
1-1.5-2-3-5-7.5 series, y with a margin — so the axes change a few dozen times a run
instead of at every point. Panning or zooming an axis stops following it; the plot's
auto-range ("A") button hands it back.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from studio.core.curves import finite_bounds

STEPS = (1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0)
Y_MARGIN = 0.1  # of the data's span, on each side, when y is refitted


def step_above(value: float) -> float:
    """The smallest value of the 1-1.5-2-3-5-7.5 × 10^k series at or above ``value`` (> 0)."""
    scale = 10.0 ** math.floor(math.log10(value))
    return next(s * scale for s in STEPS if s * scale >= value * (1 - 1e-12))


def x_target(lo: float, hi: float) -> tuple[float, float]:
    """Where the x range goes for data spanning lo..hi: from lo to the next series bound."""
    span = hi - lo
    return (lo, lo + step_above(span)) if span > 0 else (lo - 0.5, lo + 0.5)


def y_needs_refit(lo: float, hi: float, view_lo: float, view_hi: float) -> bool:
    """Refit when data leaves the view or fills less than half of it."""
    return lo < view_lo or hi > view_hi or (hi - lo) < 0.5 * (view_hi - view_lo)


def y_target(lo: float, hi: float) -> tuple[float, float]:
    span = hi - lo
    margin = span * Y_MARGIN if span > 0 else max(abs(lo) * Y_MARGIN, 1e-9)
    return lo - margin, hi + margin


class RangeFollower:
    """Follows one plot's data in steps (see the module docstring)."""

    def __init__(self, plot: pg.PlotItem):
        self.view = plot.getViewBox()
        self.follow = [True, True]
        self.view.enableAutoRange(x=False, y=False)
        self.view.sigRangeChangedManually.connect(self._moved_by_user)

    def _moved_by_user(self, mask) -> None:
        for axis in (0, 1):
            if mask[axis]:
                self.follow[axis] = False

    def fit(self, xs: list[np.ndarray], ys: list[np.ndarray]) -> None:
        """Bring the range over the data (view coordinates: log10 of y in log mode)."""
        enabled = self.view.autoRangeEnabled()
        if any(enabled):  # the "A" button: follow again, in steps
            self.follow = [f or bool(e) for f, e in zip(self.follow, enabled, strict=True)]
            self.view.enableAutoRange(x=False, y=False)
        bounds = [finite_bounds(xs), finite_bounds(ys)]
        (x_lo, x_hi), (y_lo, y_hi) = self.view.viewRange()
        if self.follow[0] and bounds[0] is not None:
            target = x_target(*bounds[0])
            if not np.allclose(target, (x_lo, x_hi)):
                self.view.setXRange(*target, padding=0)
        if self.follow[1] and bounds[1] is not None and y_needs_refit(*bounds[1], y_lo, y_hi):
            self.view.setYRange(*y_target(*bounds[1]), padding=0)
