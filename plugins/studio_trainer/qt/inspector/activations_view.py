"""Activations view: the residual stream's and the MLP output's norm per layer (at the
chosen position and averaged over positions), and the histogram of the chosen layer's
MLP hidden activations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from .common import Plot, View, integer_ticks

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
            f'layer: <span style="color:{COLOURS["residual"]}">residual</span>, '
            f'<span style="color:{COLOURS["MLP"]}">MLP</span> (solid: at the position; dashed: mean)',
        )
        self.norms.setLabel("left", "L2 norm")
        layout.addWidget(self.norms, 1)
        bar = QHBoxLayout()
        self.layer = QSpinBox(prefix="histogram of layer ", objectName="trainer:inspector-hist-layer")
        self.layer.valueChanged.connect(lambda _: self._histogram() if self.inspection is not None else None)
        self.note = QLabel(wordWrap=True)
        bar.addWidget(self.layer)
        bar.addWidget(self.note, 1)
        layout.addLayout(bar)
        self.hist = Plot("trainer:inspector-histogram")
        self.hist.setMinimumHeight(80)
        self.hist.setLabel("bottom", "MLP hidden activation")
        layout.addWidget(self.hist, 1)

    def draw(self) -> None:
        insp = self.inspection
        t = min(self.position, len(insp.tokens) - 1)
        resid, mlp = np.asarray(insp.resid_norm), np.asarray(insp.mlp_norm)
        self.norms.clear()
        for name, data, x in (
            ("residual", resid, np.arange(resid.shape[0])),
            ("MLP", mlp, np.arange(1, 1 + mlp.shape[0])),
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
        integer_ticks(self.norms.getPlotItem().getAxis("bottom"), resid.shape[0])
        self.layer.setMaximum(max(0, len(insp.mlp_hist) - 1))
        self._histogram()

    def _histogram(self) -> None:
        hist = self.inspection.mlp_hist
        self.hist.clear()
        if not hist:
            self.note.setText("no MLP histogram for this model")
            return
        counts, edges = hist[min(self.layer.value(), len(hist) - 1)]
        counts, edges = np.asarray(counts, dtype=float), np.asarray(edges, dtype=float)
        self.hist.plot(
            edges, counts, stepMode="center", fillLevel=0, brush=(61, 123, 217, 120), pen=COLOURS["residual"]
        )
        self.note.setText(f"{int(counts.sum())} values, {edges[0]:.2f} to {edges[-1]:.2f}")

    def as_json(self) -> dict[str, Any]:
        insp = self.inspection
        if insp is None:
            return {}
        t = min(self.position, len(insp.tokens) - 1)
        layer = min(self.layer.value(), max(0, len(insp.mlp_hist) - 1))
        counts, edges = insp.mlp_hist[layer] if insp.mlp_hist else ([], [])
        return {
            "view": "activations",
            "position": t,
            "resid_norm": [float(v) for v in np.asarray(insp.resid_norm)[:, t]],
            "mlp_norm": [float(v) for v in np.asarray(insp.mlp_norm)[:, t]],
            "histogram": {"layer": layer, "counts": [int(c) for c in counts], "edges": [float(e) for e in edges]},
        }
