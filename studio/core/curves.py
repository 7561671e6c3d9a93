"""Curves of scalar metrics, as the Metrics panel keeps them: growable arrays with a
debiased moving average; and which runs the panel draws, grouped how. Qt-free, so the
smoothing, exports, ticks and sections are tested without widgets."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np


def short_label(run_id: str) -> str:
    """``20261122-045704-diagnostics.stream-3322`` → ``04:57:04 diagnostics.stream 3322``."""
    parts = run_id.split("-")
    if len(parts) >= 4 and len(parts[1]) == 6 and parts[1].isdigit():
        t = parts[1]
        return f"{t[:2]}:{t[2:4]}:{t[4:]} {'-'.join(parts[2:-1])} {parts[-1]}"
    return run_id


#: a series with fewer points is not smoothed (an EMA over a handful of validation points
#: ends far from the last value the run reports): it is drawn raw, as markers and a line
SPARSE_POINTS = 20


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

    @property
    def sparse(self) -> bool:
        """Too few points to smooth: drawn, read out and exported raw."""
        return self.n < SPARSE_POINTS

    def arrays(self, smoothed: bool) -> tuple[np.ndarray, np.ndarray]:
        """Steps and values: smoothed ones when ``smoothed`` and the series is not sparse."""
        return self.x[: self.n], (self.s if smoothed and not self.sparse else self.y)[: self.n]

    def nearest(self, x: float) -> tuple[float, float] | None:
        """The point nearest step ``x``: (step, the value drawn there)."""
        if self.n == 0:
            return None
        xs, ys = self.arrays(True)
        i = int(np.argmin(np.abs(xs - x)))
        return xs[i], ys[i]

    def csv_rows(self) -> list[tuple[str, str, str]]:
        """(step, value, smoothed) per point, as the CSV export writes them."""
        x, y = self.arrays(False)
        _, s = self.arrays(True)
        rows = zip(x.tolist(), y.tolist(), s.tolist(), strict=True)
        return [(f"{step:g}", repr(value), repr(smooth)) for step, value, smooth in rows]


# ---------------------------------------------------------------------- runs and plots
# What the Metrics panel shows, decided without widgets: which runs are ticked, how their
# metrics group into sections and plots, and the data a plot's range follows.

ACTIVE_STATUSES = frozenset({"queued", "running"})
OTHER_KIND = "other runs"  # the section of runs whose kind is unknown (not a studio run id)


def run_kind(run_id: str) -> str:
    """``20261122-045704-diagnostics.stream-3322`` → ``diagnostics.stream``; "" for an id
    that is not a studio run id."""
    parts = run_id.split("-")
    if len(parts) >= 4 and len(parts[0]) == 8 and parts[0].isdigit() and len(parts[1]) == 6 and parts[1].isdigit():
        return "-".join(parts[2:-1])
    return ""


class RunTicks:
    """Which runs the Metrics panel draws, as TensorBoard and W&B do it: the newest run is
    in focus (ticked); older runs stay listed, unticked unless the user ticks them. When
    another run takes the focus, runs ticked automatically are unticked — not those the
    user ticked by hand, nor runs still active (``keep``): two jobs running at once both
    stay in view."""

    def __init__(self) -> None:
        self.ticked: set[str] = set()
        self.by_hand: set[str] = set()
        self.focused: str | None = None

    def __contains__(self, run_id: object) -> bool:
        return run_id in self.ticked

    def focus(self, run_id: str, keep: Iterable[str] = ()) -> None:
        kept = set(keep)
        self.ticked = {r for r in self.ticked if r in self.by_hand or r in kept} | {run_id}
        self.focused = run_id

    def set_ticked(self, run_id: str, on: bool) -> None:
        """The user ticked or unticked a run."""
        if on:
            self.ticked.add(run_id)
            self.by_hand.add(run_id)
        else:
            self.ticked.discard(run_id)
            self.by_hand.discard(run_id)
            if self.focused == run_id:
                self.focused = None

    def remove(self, run_id: str) -> None:
        self.ticked.discard(run_id)
        self.by_hand.discard(run_id)
        if self.focused == run_id:
            self.focused = None

    def listed(self, newest: str, present: Iterable[str], newest_seen: str | None = None) -> None:
        """Past runs were listed (``present``: all runs listed now). The newest takes the focus
        when none of them is ticked, or when it is not ``newest_seen``, the newest run the
        last session knew: a run made since (by the command line, say) is the newest work."""
        if not (self.ticked & set(present)) or (newest_seen is not None and newest != newest_seen):
            self.focus(newest)

    def state(self) -> dict[str, Any]:
        """JSON-able: the runs ticked by hand and the focused run."""
        return {"ticked": sorted(self.ticked & self.by_hand), "focused": self.focused}

    def restore(self, state: dict[str, Any]) -> None:
        ticked = state.get("ticked")
        focused = state.get("focused")
        self.by_hand = {r for r in ticked if isinstance(r, str)} if isinstance(ticked, list) else set()
        self.focused = focused if isinstance(focused, str) else None
        self.ticked = self.by_hand | ({self.focused} if self.focused else set())


def metric_order(name: str) -> tuple[int, str]:
    """Sort key of a section's plots, most telling first: losses (``train/loss``,
    ``val/loss``), then the other ``val/`` metrics, then the rest by name — so the loss is
    the first plot a small screen shows, not below ``grad_norm`` and ``lr``."""
    lowered = name.lower()
    rank = 0 if "loss" in lowered else 1 if lowered.startswith(("val/", "val_", "eval/")) else 2
    return rank, name


def plot_sections(runs: Iterable[tuple[str, Iterable[str]]]) -> list[tuple[str, list[str]]]:
    """The plots to show, by section: ``runs`` are the ticked runs' (kind, metric names),
    newest first. One section per job kind (a run of unknown kind goes to ``OTHER_KIND``),
    in the order of each kind's newest run; its metrics in ``metric_order``."""
    sections: dict[str, set[str]] = {}
    for kind, names in runs:
        sections.setdefault(kind or OTHER_KIND, set()).update(names)
    return [(kind, sorted(names, key=metric_order)) for kind, names in sections.items() if names]


def finite_bounds(arrays: Iterable[np.ndarray]) -> tuple[float, float] | None:
    """(min, max) of the finite values of ``arrays``, or None when there are none: what a
    plot's range follows (the arrays of its ticked runs only)."""
    values = [a[np.isfinite(a)] for a in arrays if len(a)]
    values = [v for v in values if len(v)]
    if not values:
        return None
    return float(min(v.min() for v in values)), float(max(v.max() for v in values))


METRIC_MARKS = (b'"kind":"metric"', b'"kind": "metric"')


def logs_metrics(events_path: Path, chunk: int = 1 << 20, limit: int = 4 << 20) -> bool:
    """Whether a run's event log holds a scalar metric, without parsing it: the Metrics
    panel lists only such runs (a Generate run or a failed start has no curve to show).
    A log longer than ``limit`` bytes is searched in its first and last ``limit / 2``
    (metrics come from the start of a training run, or as a final score): listing a
    workspace full of long traces stays quick."""
    try:
        with open(events_path, "rb") as fh:
            size = fh.seek(0, 2)
            spans = [(0, size)] if size <= limit else [(0, limit // 2), (size - limit // 2, size)]
            for start, end in spans:
                fh.seek(start)
                carry = b""
                while start < end and (block := fh.read(min(chunk, end - start))):
                    start += len(block)
                    if any(mark in carry + block for mark in METRIC_MARKS):
                        return True
                    carry = block[-20:]
    except OSError:
        return False
    return False


def run_name(run_id: str) -> str:
    """What the run list shows as a run's name: the id's random tail for a studio run id
    (its date and kind have their own columns), the whole id otherwise."""
    return run_id.rsplit("-", 1)[-1] if run_kind(run_id) else run_id


STARTED_FORMAT = "%b %d %H:%M"


def run_started(run_id: str, created: float | None = None) -> tuple[float, str]:
    """When a run started, as (a sort key, ``Dec 01 03:34``: short, for a narrow list): from
    its ``created`` time, else from its id; (0, "") when neither tells."""
    if isinstance(created, (int, float)) and not isinstance(created, bool) and math.isfinite(created):
        return float(created), time.strftime(STARTED_FORMAT, time.localtime(created))
    if run_kind(run_id):
        try:
            t = time.strptime(run_id[:15], "%Y%m%d-%H%M%S")
        except ValueError:
            return 0.0, ""
        return time.mktime(t), time.strftime(STARTED_FORMAT, t)
    return 0.0, ""
