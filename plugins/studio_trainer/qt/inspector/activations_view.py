"""Activations view: the residual stream's and the MLP output's norm per layer (at the
chosen position and averaged over positions), and the histogram of the chosen layer's
MLP hidden activations. Everything is numbered by block, as in the other views: block k's
MLP and the residual stream after block k share the tick "k"; the embeddings (the residual
stream before block 0) are "emb"."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from studio.widgets import tone

from .common import Plot, View

MAX_TICKS = 12  # block ticks on the norms' axis: every k-th block beyond this many

COLOURS = {"residual": "#3d7bd9", "MLP": "#e07b00"}


class ActivationsView(View):
    title = "Activations"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.norms = Plot("trainer:inspector-norms")
        self.norms.setMinimumHeight(90)
        self.norms.setLabel(
            "bottom",
            f'block: <span style="color:{COLOURS["residual"]}">residual after it</span>, '
            f'<span style="color:{COLOURS["MLP"]}">its MLP</span> (solid: at the position; dashed: mean)',
        )
        self.norms.setLabel("left", "L2 norm")
        layout.addWidget(self.norms, 1)
        bar = QHBoxLayout()
        self.layer = QSpinBox(prefix="MLP histogram, block ", objectName="trainer:inspector-hist-layer")
        self.layer.valueChanged.connect(lambda _: self._histogram() if self.inspection is not None else None)
        self.note = QLabel(wordWrap=True)
        bar.addWidget(self.layer)
        bar.addWidget(self.note, 1)
        layout.addLayout(bar)
        self.hist = Plot("trainer:inspector-histogram")
        self.hist.setMinimumHeight(80)
        self.hist.setLabel("bottom", "MLP hidden activation")
        layout.addWidget(self.hist, 1)
        self.chosen = pg.InfiniteLine(angle=90, movable=False)  # the histogram's block on the norms' plot

    def draw(self) -> None:
        insp = self.inspection
        t = min(self.position, len(insp.tokens) - 1)
        resid, mlp = np.asarray(insp.resid_norm), np.asarray(insp.mlp_norm)
        self.norms.clear()
        for name, data, x in (
            ("residual", resid, np.arange(-1, resid.shape[0] - 1)),  # -1: the embeddings
            ("MLP", mlp, np.arange(mlp.shape[0])),
        ):
            colour = COLOURS[name]
            self.norms.plot(
                x,
                data[:, t],
                pen=pg.mkPen(colour, width=2),
                symbol="o",
                symbolSize=5,
                symbolBrush=colour,
                name=f"{name} at {t}",
            )
            self.norms.plot(
                x,
                data.mean(axis=1),
                pen=pg.mkPen(colour, width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
                name=f"{name}, mean",
            )
        self.norms.getPlotItem().getAxis("bottom").setTicks([block_ticks(resid.shape[0] - 1)])
        self.chosen.setPen(pg.mkPen(tone("muted"), width=1, style=pg.QtCore.Qt.PenStyle.DotLine))
        self.norms.addItem(self.chosen, ignoreBounds=True)
        self.layer.setMaximum(max(0, len(insp.mlp_hist) - 1))
        self._histogram()

    def _histogram(self) -> None:
        hist = self.inspection.mlp_hist
        self.hist.clear()
        if not hist:
            self.note.setText("no MLP histogram for this model")
            return
        block = min(self.layer.value(), len(hist) - 1)
        self.chosen.setPos(block)
        if not _ready(hist, block):  # the panel's worker computes it (the model is used there only)
            self.note.setText(f"block {block}'s MLP: computing the histogram…")
            return
        counts, edges = hist[block]
        counts, edges = np.asarray(counts, dtype=float), np.asarray(edges, dtype=float)
        self.hist.plot(
            edges, counts, stepMode="center", fillLevel=0, brush=(61, 123, 217, 120), pen=COLOURS["residual"]
        )
        self.note.setText(f"block {block}'s MLP: {int(counts.sum())} values, {edges[0]:.2f} to {edges[-1]:.2f}")

    def as_json(self) -> dict[str, Any]:
        insp = self.inspection
        if insp is None:
            return {}
        t = min(self.position, len(insp.tokens) - 1)
        layer = min(self.layer.value(), max(0, len(insp.mlp_hist) - 1))
        counts, edges = insp.mlp_hist[layer] if insp.mlp_hist and _ready(insp.mlp_hist, layer) else ([], [])
        return {
            "view": "activations",
            "position": t,
            "resid_norm": [float(v) for v in np.asarray(insp.resid_norm)[:, t]],
            "resid_after": ["embeddings"] + [f"block {k}" for k in range(np.asarray(insp.resid_norm).shape[0] - 1)],
            "mlp_norm": [float(v) for v in np.asarray(insp.mlp_norm)[:, t]],
            "histogram": {"block": layer, "counts": [int(c) for c in counts], "edges": [float(e) for e in edges]},
        }


def block_ticks(blocks: int) -> list[tuple[float, str]]:
    """The norms' axis: "emb" at -1, then block numbers (every k-th when there are many)."""
    step = max(1, -(-blocks // MAX_TICKS))
    return [(-1.0, "emb")] + [(float(k), str(k)) for k in range(0, blocks, step)]


def _ready(hist: Any, block: int) -> bool:
    """A fresh inspection's histograms are computed after it is shown; a loaded one's are read."""
    ready = getattr(hist, "ready", None)
    return ready is None or ready(block)
