"""Attention view: every layer × head as a thumbnail, one row per layer and one column per
head; one clicked opens its full map
(max-pooled to the screen, sharper as one zooms in), and the query row under the mouse
shows what it attends to, highlighted in the visible window of the text. Maps are
computed on the worker thread; the GUI thread only draws and looks up rows."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio.widgets import text_colour, tint

from .common import HeatMap, View, listed, maxpool, token_html
from .runner import Runner

THUMB = 64  # pixels a side of a head's thumbnail
CELL = THUMB + 6  # a grid cell: the thumbnail and a margin
STRIP_TOKENS = 160  # at most this many key tokens are highlighted in the text strip (a few lines)
DETAIL_PIXELS = 512  # the zoomed-in part: about the map's size on screen in a side panel (less to colour)
REFINE_MS = 60  # after a zoom or pan stops for this long, the visible part is redrawn sharper
LEVELS = 10  # attention strengths shown as this many shades in the text
HOVER_MS = 15  # mouse moves are coalesced: at most one row lookup per this interval
LUT = pg.colormap.get("viridis").getLookupTable(nPts=256)


def bright_level(data: np.ndarray) -> float:
    """The weight drawn brightest: a high percentile of the non-zero weights, not the maximum
    (the first query's weight is always 1 and would leave every other row dark)."""
    values = data[data > 0]
    return float(np.percentile(values, 99.5)) if values.size else 1.0


def thumbnail_icon(data: np.ndarray) -> QIcon:
    """A map as a coloured icon through the colour map (``bright_level`` and above brightest)."""
    top = bright_level(np.nan_to_num(data)) if data.size else 0.0
    scaled = np.clip(np.nan_to_num(data) / (top or 1.0), 0, 1)
    rgb = np.ascontiguousarray(LUT[(scaled * 255).astype(np.uint8)][..., :3].astype(np.uint8))
    h, w = scaled.shape
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QIcon(QPixmap.fromImage(image).scaled(THUMB, THUMB))


class AttentionView(View):
    #: (layer, head) opened for its full map: the Intervene view takes it as the head to ablate
    head_chosen = Signal(int, int)

    title = "Attention"

    def __init__(self, runner: Runner, parent: QWidget | None = None):
        super().__init__(parent)
        self.runner = runner
        self.head: tuple[int, int] | None = None
        self.full: np.ndarray | None = None  # the chosen head's T × T map (held for row lookups)
        self.factor = 1
        self.query: int | None = None
        self.pinned: int | None = None  # the query row clicked (hover then does not move it)
        self._shade_key, self._shade_styles = "", [""]
        self._shown_key: tuple = ()  # what the text strip shows (map, query, keys, theme)
        self.hover_timer = QTimer(self, singleShot=True, interval=HOVER_MS)
        self.hover_timer.timeout.connect(self._show_query)
        self.refine_timer = QTimer(self, singleShot=True, interval=REFINE_MS)
        self.refine_timer.timeout.connect(self._refine)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.status = QLabel(wordWrap=True, objectName="trainer:inspector-attention-status")
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # it says a saved inspection's reasons: never markup
        layout.addWidget(self.status)
        self.stack = QStackedWidget()
        layout.addWidget(self.stack, 1)

        self.grid = QTableWidget(objectName="trainer:inspector-heads")  # rows: layers, columns: heads
        self.grid.setIconSize(QSize(THUMB, THUMB))
        self.grid.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.grid.setShowGrid(False)
        for header in (self.grid.horizontalHeader(), self.grid.verticalHeader()):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
            header.setDefaultSectionSize(CELL)
            header.setDefaultAlignment(Qt.AlignmentFlag.AlignCenter)
        self.grid.cellClicked.connect(self.open_head)
        self.grid.cellActivated.connect(self.open_head)
        self.stack.addWidget(self.grid)

        page = QWidget()
        page_layout = QVBoxLayout(page)
        page_layout.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.back = QPushButton("◀ All heads", objectName="trainer:inspector-all-heads")
        self.back.clicked.connect(self.show_grid)
        self.code_button = QPushButton("Show code", objectName="trainer:inspector-attention-code")
        self.code_button.clicked.connect(lambda: self.head and self.show_code.emit(self.head[0], "attn"))
        self.head_label = QLabel()
        bar.addWidget(self.back)
        bar.addWidget(self.head_label, 1)
        bar.addWidget(self.code_button)
        page_layout.addLayout(bar)
        self.map = HeatMap("trainer:inspector-attention-map")
        self.map.setMinimumHeight(120)
        self.detail_image = pg.ImageItem(axisOrder="row-major")
        self.detail_image.setLookupTable(LUT)
        self.detail_image.setZValue(1)
        self.detail_image.hide()
        self.map.plot.addItem(self.detail_image)
        self.map.hovered.connect(self._hover)
        self.map.clicked.connect(self._pin)
        self.map.view.sigRangeChanged.connect(lambda *_: self.refine_timer.start())
        page_layout.addWidget(self.map, 3)
        self.strip = QTextBrowser(objectName="trainer:inspector-attention-text", openLinks=False)
        self.strip.setMinimumHeight(48)
        page_layout.addWidget(self.strip, 1)
        self.stack.addWidget(page)

    # ---- the grid

    def set_inspection(self, inspection: Any) -> None:
        super().set_inspection(inspection)
        self.head, self.full, self.query, self.pinned = None, None, None, None
        self.grid.clear()
        self.grid.setRowCount(0)
        self.grid.setColumnCount(0)
        self.stack.setCurrentIndex(0)

    def draw(self) -> None:
        insp = self.inspection
        if not getattr(insp, "attention_available", False) or not insp.n_head:
            reasons = "; ".join(getattr(insp, "unavailable", []) or []) or "this model's attention type has no maps"
            self.status.setText(f"Attention maps are not available: {reasons}")
            return
        if self.grid.rowCount():
            return
        self.status.setText(f"Computing {insp.n_layer} × {insp.n_head} attention thumbnails…")
        layers, heads = insp.n_layer, insp.n_head

        def thumbnails() -> dict[tuple[int, int], np.ndarray]:
            return {(i, h): insp.attention_thumbnail(i, h, THUMB) for i in range(layers) for h in range(heads)}

        self.runner.submit("thumbnails", thumbnails, self._thumbnails, self._failed)

    def _thumbnails(self, maps: dict[tuple[int, int], np.ndarray]) -> None:
        layers = 1 + max((layer for layer, _ in maps), default=-1)
        heads = 1 + max((head for _, head in maps), default=-1)
        self.grid.clear()
        self.grid.setRowCount(layers)
        self.grid.setColumnCount(heads)
        self.grid.setVerticalHeaderLabels([f"L{i}" for i in range(layers)])
        self.grid.setHorizontalHeaderLabels([f"H{h}" for h in range(heads)])
        for (layer, head), data in maps.items():
            item = QTableWidgetItem(thumbnail_icon(data), "")
            item.setToolTip(f"layer {layer}, head {head}: click for the full map")
            self.grid.setItem(layer, head, item)
        self.status.setText("Click a head for its full map (rows: queries, columns: keys).")

    def _failed(self, message: str) -> None:
        self.status.setText(f"⚠ {message}")

    def show_grid(self) -> None:
        self.stack.setCurrentIndex(0)
        self.status.setText("Click a head for its full map (rows: queries, columns: keys).")

    # ---- one head's map

    def open_head(self, layer: int, head: int) -> None:
        """Compute the full map on the worker, then show it."""
        insp = self.inspection
        self.head = (layer, head)
        self.head_chosen.emit(layer, head)
        self.head_label.setText(f"layer {layer}, head {head} · computing…")
        self.status.setText("Hover a row: what that query attends to; click to pin it; the wheel zooms.")
        self.stack.setCurrentIndex(1)

        def compute() -> tuple[np.ndarray, np.ndarray, int, float]:
            full = np.asarray(insp.attention(layer, head), dtype=np.float32)
            pooled, factor = maxpool(full)
            return full, pooled, factor, bright_level(pooled)

        self.runner.submit("attention", compute, self._show_map, self._failed)

    def _show_map(self, result: tuple[np.ndarray, np.ndarray, int, float]) -> None:
        self.full, pooled, self.factor, bright = result
        n = self.full.shape[0]
        self.detail_image.hide()
        tokens = list(self.inspection.tokens) if self.inspection is not None else []
        labels = tokens if len(tokens) == n else None
        self.map.set_labels(bottom=labels, left=labels)
        self.map.set_data(pooled, levels=(0.0, bright or 1.0), shape=(n, n))
        layer, head = self.head or (0, 0)
        pooled_note = f" · shown max-pooled {self.factor}× (zoom in for detail)" if self.factor > 1 else ""
        self.head_label.setText(f"layer {layer}, head {head} · {n} tokens{pooled_note}")
        self.query = self.pinned if self.pinned is not None else min(self.position, n - 1)
        self._show_query()

    def map_shown(self) -> bool:
        return self.stack.currentIndex() == 1 and self.full is not None

    def _hover(self, row: int, col: int) -> None:
        if self.pinned is None:
            self.query = row
            if not self.hover_timer.isActive():
                self.hover_timer.start()

    def _pin(self, row: int, col: int) -> None:
        self.pinned = None if self.pinned == row else row
        self.query = row
        self._show_query()
        if self.pinned is not None:
            self.position_chosen.emit(row)

    def _visible_columns(self) -> tuple[int, int]:
        (x0, x1), _ = self.map.view.viewRange()
        n = self.full.shape[1] if self.full is not None else 0
        return max(0, int(x0)), min(n, int(np.ceil(x1)))

    def _show_query(self) -> None:
        """The query row's weights over the visible keys, as shaded text (a window of at
        most STRIP_TOKENS tokens around the strongest key: cheap at 4,096 tokens)."""
        if self.full is None or self.query is None or self.inspection is None:
            return
        q = min(self.query, self.full.shape[0] - 1)
        row = self.full[q]
        self.map.mark(row=q)
        x0, x1 = self._visible_columns()
        x1 = min(x1, q + 1)  # causal: nothing after the query
        if x1 <= x0:
            x0, x1 = max(0, q + 1 - STRIP_TOKENS), q + 1
        if x1 - x0 > STRIP_TOKENS:
            peak = x0 + int(np.argmax(row[x0:x1]))
            x0 = max(x0, min(peak - STRIP_TOKENS // 2, x1 - STRIP_TOKENS))
            x1 = x0 + STRIP_TOKENS
        shown_key = (id(self.full), q, x0, x1, text_colour().rgb())
        if shown_key == self._shown_key:  # the mouse moved along the same row: nothing to redo
            return
        self._shown_key = shown_key
        window = row[x0:x1]
        top = float(window.max()) if window.size else 0.0
        levels = np.zeros(len(window), dtype=np.int64) if top <= 0 else np.minimum(window / top * LEVELS, LEVELS - 1)
        levels = levels.astype(np.int64)
        shades = self._shades()
        tokens = self.inspection.tokens
        parts = [f"<b>query {q}</b> <code>{html.escape(listed(tokens[q]))}</code> attends to (keys {x0}–{x1 - 1}): "]
        run: list[str] = []
        for i, k in enumerate(range(x0, x1)):  # runs of one shade in one span: a short document
            run.append(token_html(tokens[k])[0])
            if i + 1 == len(levels) or levels[i + 1] != levels[i]:
                parts.append(f'<span style="{shades[levels[i]]}">{"".join(run)}</span>')
                run = []
        best = np.argsort(row[: q + 1])[::-1][:3]
        summary = ", ".join(f"{int(k)} <code>{html.escape(listed(tokens[int(k)]))}</code> {row[k]:.2f}" for k in best)
        self.strip.setHtml(f'<div style="font-family:monospace">{"".join(parts)}</div><p>strongest: {summary}</p>')

    def restyle(self) -> None:
        self._shown_key = ()
        self._show_query()

    def _shades(self) -> list[str]:
        """The span styles of the LEVELS attention strengths (tints are slow to compute: once
        per palette)."""
        key = text_colour().name()
        if self._shade_key != key:
            self._shade_key = key
            self._shade_styles = [f"color:{key}"] + [
                f"color:{key};background:{tint('match', 0.05 + 0.8 * i / (LEVELS - 1)).name()}"
                for i in range(1, LEVELS)
            ]
        return self._shade_styles

    def _refine(self) -> None:
        """Zoomed in on a pooled map: the visible part again at (up to) full resolution,
        pooled on the worker (a 2,048² crop takes longer than a frame)."""
        if self.full is None or self.factor == 1:
            return
        full, n, factor = self.full, self.full.shape[0], self.factor
        (x0, x1), (y0, y1) = self.map.view.viewRange()
        c0, c1 = max(0, int(x0)), min(n, int(np.ceil(x1)))
        r0, r1 = max(0, int(y0)), min(n, int(np.ceil(y1)))
        if (c1 - c0 >= n and r1 - r0 >= n) or c1 <= c0 or r1 <= r0:
            self.detail_image.hide()
            return

        def crop() -> tuple[np.ndarray, int, tuple[int, int, int, int]]:
            pooled, by = maxpool(full[r0:r1, c0:c1], DETAIL_PIXELS)
            return pooled, by, (c0, r0, c1 - c0, r1 - r0)

        def show(result: tuple[np.ndarray, int, tuple[int, int, int, int]]) -> None:
            pooled, by, rect = result
            if self.full is not full or by >= factor:
                self.detail_image.hide()
                return
            self.detail_image.setImage(pooled, levels=self.map.image.getLevels())
            self.detail_image.setRect(*rect)
            self.detail_image.show()

        self.runner.submit("refine", crop, show, self._failed)

    def as_json(self) -> dict[str, Any]:
        insp = self.inspection
        if insp is None:
            return {}
        data: dict[str, Any] = {
            "view": "attention",
            "layers": insp.n_layer,
            "heads": insp.n_head,
            "tokens": len(insp.tokens),
            "available": bool(getattr(insp, "attention_available", False)),
        }
        if self.full is not None and self.head is not None and self.query is not None:
            q = min(self.query, self.full.shape[0] - 1)
            row = self.full[q, : q + 1]
            best = np.argsort(row)[::-1][:10]
            data.update(
                layer=self.head[0],
                head=self.head[1],
                query=q,
                top_keys=[{"position": int(k), "token": insp.tokens[int(k)], "weight": float(row[k])} for k in best],
            )
        return data
