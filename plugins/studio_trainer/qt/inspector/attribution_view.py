"""Attribution view: how much each block's attention and MLP output pushed the residual
stream toward the chosen position's target token (direct logit attribution), per layer as
bars and per head as a layers × heads map with its colour scale (by default its own, its
largest value said next to the bars' so a faint map is not read as a strong one; or the
bars' scale)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from studio.widgets import tone

from .common import HeatMap, Plot, View, id_text, integer_ticks, listed

ATTN_COLOUR, MLP_COLOUR = "#3d7bd9", "#e07b00"
HEAD_COLOURS = "CET-D1"  # diverging: blue pushes away from the target, red toward it


class AttributionView(View):
    title = "Attribution"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary = QLabel(wordWrap=True, objectName="trainer:inspector-attribution-summary")
        self.summary.setTextFormat(Qt.TextFormat.RichText)  # <code> tokens; a saved inspection's text escaped
        layout.addWidget(self.summary)
        self.bars = Plot("trainer:inspector-attribution-bars")
        self.bars.setMinimumHeight(90)
        self.bars.setLabel(
            "bottom",
            f'layer: <span style="color:{ATTN_COLOUR}">■ attention</span> '
            f'<span style="color:{MLP_COLOUR}">■ MLP</span>',
        )
        self.bars.setLabel("left", "logit push")
        layout.addWidget(self.bars, 1)
        scale_row = QHBoxLayout()
        self.scale_note = QLabel(wordWrap=True, objectName="trainer:inspector-attribution-scale")
        self.shared = QCheckBox("bars' scale", objectName="trainer:inspector-attribution-shared")
        self.shared.setToolTip("Colour the heads on the bars' scale (the largest push of any layer), not their own")
        self.shared.toggled.connect(lambda _: self.draw() if self.inspection is not None else None)
        scale_row.addWidget(self.scale_note, 1)
        scale_row.addWidget(self.shared)
        layout.addLayout(scale_row)
        self.heads = HeatMap("trainer:inspector-attribution-heads", colormap=HEAD_COLOURS)
        self.heads.setMinimumHeight(80)
        self.colour_bar = pg.ColorBarItem(
            values=(-1.0, 1.0), colorMap=pg.colormap.get(HEAD_COLOURS), interactive=False, width=12
        )
        self.colour_bar.setImageItem(self.heads.image, insert_in=self.heads.plot)
        self.heads.plot.setLabel("left", "layer")
        self.heads.plot.setLabel("bottom", "head")
        self.heads.hovered.connect(self._head_hovered)
        self.heads.clicked.connect(self._head_clicked)
        layout.addWidget(self.heads, 1)
        bar = QHBoxLayout()
        self.head_detail = QLabel(wordWrap=True)
        self.layer = QSpinBox(prefix="layer ", objectName="trainer:inspector-attribution-layer")
        self.code_button = QPushButton("Show code", objectName="trainer:inspector-attribution-code")
        self.code_button.setToolTip("The source of the chosen layer's attention type")
        self.code_button.clicked.connect(lambda: self.show_code.emit(self.layer.value(), "attn"))
        bar.addWidget(self.head_detail, 1)
        bar.addWidget(self.layer)
        bar.addWidget(self.code_button)
        layout.addLayout(bar)

    def _values(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray | None]:
        insp = self.inspection
        a = insp.attribution
        t = min(self.position, len(insp.tokens) - 1)
        heads = a.get("heads")
        return (
            t,
            np.asarray(a["attn"])[:, t],
            np.asarray(a["mlp"])[:, t],
            None if heads is None else np.asarray(heads)[:, :, t],
        )

    def target(self, t: int) -> str:
        ids = self.inspection.attribution.get("target_ids")
        return id_text(self.inspection, int(ids[t])) if ids is not None else "?"

    def draw(self) -> None:
        insp = self.inspection
        if not insp.attribution:
            reasons = "; ".join(u for u in getattr(insp, "unavailable", []) if "attribution" in u)
            self.summary.setText(html.escape(f"No attribution for this inspection{': ' + reasons if reasons else ''}."))
            self.bars.clear()
            self.heads.hide()
            self.scale_note.clear()
            return
        t, attn, mlp, heads = self._values()
        layers = np.arange(len(attn))
        self.layer.setMaximum(max(0, len(attn) - 1))
        self.bars.clear()
        width = 0.38
        self.bars.addItem(pg.BarGraphItem(x=layers - width / 2, height=attn, width=width, brush=ATTN_COLOUR))
        self.bars.addItem(pg.BarGraphItem(x=layers + width / 2, height=mlp, width=width, brush=MLP_COLOUR))
        integer_ticks(self.bars.getPlotItem().getAxis("bottom"), len(attn))
        embed = insp.attribution.get("embed")
        embed_text = f" · embeddings {float(np.asarray(embed)[t]):+.2f}" if embed is not None else ""
        self.summary.setText(
            f"Toward <code>{html.escape(listed(self.target(t)))}</code> at position {t} "
            f"(after <code>{html.escape(listed(insp.tokens[t]))}</code>){embed_text}"
        )
        if heads is None:
            self.heads.hide()
            self.scale_note.clear()
            self.head_detail.setText("No per-head attribution for this attention type.")
            self.head_detail.setStyleSheet(f"color: {tone('muted').name()}")
            return
        self.heads.show()
        head_max = float(np.nanmax(np.abs(heads))) if heads.size else 0.0
        bar_max = float(np.nanmax(np.abs(np.concatenate([attn, mlp])))) if attn.size else 0.0
        bound = (max(head_max, bar_max) if self.shared.isChecked() else head_max) or 1.0
        self.heads.set_data(heads, levels=(-bound, bound))
        self.colour_bar.setLevels((-bound, bound))
        self.scale_note.setText(
            f"Per head: largest |push| {head_max:.3g} (the bars reach {bar_max:.3g}); colours span ±{bound:.3g}"
        )
        self.head_detail.setText("Hover a head; click one to choose its layer.")

    def _head_clicked(self, layer: int, head: int) -> None:
        self.layer.setValue(layer)

    def _head_hovered(self, layer: int, head: int) -> None:
        if self.inspection is None or not self.inspection.attribution:
            return
        _, _, _, heads = self._values()
        if heads is not None:
            self.head_detail.setText(f"layer {layer}, head {head}: {float(heads[layer, head]):+.3f}")

    def as_json(self) -> dict[str, Any]:
        if self.inspection is None or not self.inspection.attribution:
            return {}
        t, attn, mlp, heads = self._values()
        return {
            "view": "attribution",
            "position": t,
            "target": self.target(t),
            "attn": [float(v) for v in attn],
            "mlp": [float(v) for v in mlp],
            "heads": None if heads is None else heads.astype(float).tolist(),
            "heads_scale": None if heads is None else [float(v) for v in self.colour_bar.levels()],
        }
