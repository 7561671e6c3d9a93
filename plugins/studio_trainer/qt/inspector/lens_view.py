"""Logit lens view: layers × positions, each cell how likely (or how highly ranked) the
actual next token is when that layer's residual stream is read out through the final
norm and the unembedding; hover a cell for the layer's top token there."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .common import HeatMap, View, id_text, listed, prob_text

MEASURES = ("probability of the next token", "rank of the next token (log scale)")


class LensView(View):
    title = "Lens"  # the logit lens (a short tab title: the tabs fit a side panel)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.measure = QComboBox(objectName="trainer:inspector-lens-measure")
        self.measure.addItems(MEASURES)
        self.measure.currentIndexChanged.connect(lambda _: self.draw() if self.inspection is not None else None)
        bar.addWidget(QLabel("shade by"))
        bar.addWidget(self.measure, 1)
        layout.addLayout(bar)
        self.map = HeatMap("trainer:inspector-lens-map")
        self.map.setMinimumHeight(100)
        self.map.plot.setLabel("left", "layer (0 = embeddings)")
        self.map.plot.setLabel("bottom", "position")
        self.map.hovered.connect(self.describe)
        self.map.clicked.connect(lambda _layer, position: self.position_chosen.emit(position))
        layout.addWidget(self.map, 1)
        self.detail = QLabel(wordWrap=True, objectName="trainer:inspector-lens-detail")
        layout.addWidget(self.detail)

    def _ready(self) -> bool:
        """Whether the lens is computed (the panel's worker computes it after the inspection
        shows; the model never runs on the GUI thread); meanwhile the view says so."""
        insp = self.inspection
        if getattr(insp, "lens_ready", True):
            return True
        self.detail.setText(f"computing the logit lens of {insp.n_layer + 1} layers…")
        self.stale = True  # drawn when the worker is done
        return False

    def draw(self) -> None:
        insp = self.inspection
        if not self._ready():
            return
        if self.measure.currentIndex() == 0:
            data = np.asarray(insp.lens_target_prob, dtype=np.float32)
            levels = (0.0, 1.0)
        else:  # rank 0 bright, far ranks dark
            rank = np.asarray(insp.lens_target_rank, dtype=np.float32)
            data = -np.log10(np.where(rank >= 0, rank, 0) + 1.0)
            levels = (float(data.min()) if data.size else -1.0, 0.0)
        self.map.set_labels(bottom=list(insp.tokens))
        self.map.mark(col=min(self.position, len(insp.tokens) - 1))
        self.map.set_data(data, levels=levels)
        self.describe(insp.n_layer, self.position)

    def describe(self, layer: int, position: int) -> None:
        insp = self.inspection
        if insp is None or not 0 <= position < len(insp.tokens) or not getattr(insp, "lens_ready", True):
            return
        layer = min(layer, insp.lens_top_ids.shape[0] - 1)
        top = id_text(insp, int(insp.lens_top_ids[layer, position]))
        rank = int(insp.lens_target_rank[layer, position])
        next_text = (
            f" · next token <code>{html.escape(listed(insp.tokens[position + 1]))}</code>: rank {rank + 1}, "
            f"p {prob_text(float(insp.lens_target_prob[layer, position]))}"
            if rank >= 0 and position + 1 < len(insp.tokens)
            else ""
        )
        self.detail.setText(
            f"layer {layer}, position {position} <code>{html.escape(listed(insp.tokens[position]))}</code> · "
            f"top <code>{html.escape(listed(top))}</code> p {prob_text(float(insp.lens_top_prob[layer, position]))}"
            f"{next_text}"
        )

    def as_json(self) -> dict[str, Any]:
        insp = self.inspection
        if insp is None or not getattr(insp, "lens_ready", True):
            return {}
        t = min(self.position, len(insp.tokens) - 1)
        return {
            "view": "logit_lens",
            "position": t,
            "token": insp.tokens[t],
            "layers": [
                {
                    "layer": layer,
                    "top": id_text(insp, int(insp.lens_top_ids[layer, t])),
                    "top_prob": float(insp.lens_top_prob[layer, t]),
                    "target_rank": int(insp.lens_target_rank[layer, t]),
                    "target_prob": float(insp.lens_target_prob[layer, t]),
                }
                for layer in range(insp.lens_top_ids.shape[0])
            ],
        }
