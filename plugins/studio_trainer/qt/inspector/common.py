"""What the Inspector's views share: how a token is shown, id → text, max-pooling a map
for the screen, a heat map widget (pyqtgraph), and the view base class."""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPalette
from PySide6.QtWidgets import QApplication, QGraphicsItem, QGraphicsRectItem, QWidget

from studio.widgets import probability_tint

MAX_PIXELS = 1024  # a map is max-pooled to at most this many pixels a side before it is drawn
SHADES = 21  # levels of the token shading: probability in steps of 0.05 (runs of one level are one span)


def shown(token: str) -> str:
    """A token as plain text one can see: a newline as ↵, a tab as ⇥."""
    return token.replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍") or "∅"


def listed(token: str) -> str:
    """A token shown on its own (in a list of alternatives, a label): a space as ␣, which
    would be invisible there."""
    return shown(token).replace(" ", "␣")


def token_html(token: str) -> tuple[str, int]:
    """A token as rich text (spaces kept, a newline shown then broken) and the number of
    characters it takes in the document (for selecting it later)."""
    text = shown(token)
    body = html.escape(text).replace(" ", "&nbsp;")
    breaks = token.count("\n")
    return body + "<br>" * breaks, len(text) + breaks


def id_text(inspection: Any, token_id: int) -> str:
    """The text of a vocabulary id (the engine's decoder, whatever its name)."""
    for name in ("token", "token_text", "decode_id"):
        fn = getattr(inspection, name, None)
        if callable(fn):
            return str(fn(int(token_id)))
    vocab = getattr(inspection, "vocab", None)
    if vocab is not None and 0 <= int(token_id) < len(vocab):
        return str(vocab[int(token_id)])
    return f"#{int(token_id)}"


def prob_text(p: float) -> str:
    return "—" if not math.isfinite(p) else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def maxpool(a: np.ndarray, limit: int = MAX_PIXELS) -> tuple[np.ndarray, int]:
    """``a`` (2-D) max-pooled by a whole factor so neither side exceeds ``limit``; the factor.
    A single strong attention weight stays visible however far one zooms out."""
    factor = max(1, math.ceil(max(a.shape) / limit))
    if factor == 1:
        return a, 1
    rows, cols = math.ceil(a.shape[0] / factor) * factor, math.ceil(a.shape[1] / factor) * factor
    padded = np.zeros((rows, cols), dtype=a.dtype)
    padded[: a.shape[0], : a.shape[1]] = a
    return padded.reshape(rows // factor, factor, cols // factor, factor).max(axis=(1, 3)), factor


def shade_colours() -> list[QColor]:
    """Token backgrounds of the ``SHADES`` levels, likely (level 0, barely tinted) to unlikely:
    the Traces view's scale (``probability_tint``), so both views look alike and stay
    readable in either theme."""
    return [probability_tint(1.0 - i / (SHADES - 1)) for i in range(SHADES)]


def shade_of(p: float) -> int:
    """The shade level of a probability: the less likely, the stronger; -1 (no shade) for a
    token nothing predicts (the first)."""
    if not math.isfinite(p):
        return -1
    return round((1.0 - min(1.0, max(0.0, p))) * (SHADES - 1))


def plot_background() -> QColor:
    return QApplication.palette().color(QPalette.ColorRole.Base)


def integer_ticks(axis: pg.AxisItem, count: int) -> None:
    """Ticks on whole numbers only (layers, heads, positions), no SI prefix on the labels."""
    axis.enableAutoSIPrefix(False)
    if count <= 12:
        axis.setTicks([[(i, str(i)) for i in range(count)]])
    else:
        axis.setTicks(None)


LABEL_CHARS = 6  # a token on an axis is cut to this many characters
MAX_LABELS = 200  # token labels are drawn only when at most this many cells are in view
MARK_COLOUR = "#ff2d95"  # the outline of the chosen row or column: seen on viridis' purple and yellow alike


def axis_label(token: str) -> str:
    text = listed(token)
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


HINT = QSize(320, 180)  # a plot's preferred size: pyqtgraph's 600 × 480 made the panel scroll in a side dock


class Plot(pg.PlotWidget):
    """A pyqtgraph plot that prefers a side panel's size, on the palette's base colour."""

    def __init__(self, name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(name)
        self.setBackground(plot_background())
        self.setMenuEnabled(False)
        for axis in ("left", "bottom"):
            self.getPlotItem().getAxis(axis).enableAutoSIPrefix(False)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        return HINT

    def changeEvent(self, event) -> None:  # noqa: N802 - follow theme switches
        if event.type() == QEvent.Type.PaletteChange:
            self.setBackground(plot_background())
        super().changeEvent(event)


class HeatMap(pg.GraphicsLayoutWidget):
    """A zoomable image (rows × columns, row 0 at the top) in a pyqtgraph ViewBox, with axes;
    ``hovered(row, col)`` and ``clicked(row, col)`` in data coordinates."""

    hovered = Signal(int, int)
    clicked = Signal(int, int)

    def __init__(self, name: str, colormap: str = "viridis", parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName(name)
        self.setBackground(plot_background())
        self.plot = self.addPlot()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        for axis in ("left", "bottom"):  # axes repainted with every hover otherwise
            self.plot.getAxis(axis).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.view = self.plot.getViewBox()
        self.view.invertY(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.lut = pg.colormap.get(colormap).getLookupTable(nPts=256)
        self.image.setLookupTable(self.lut)
        self.shape = (0, 0)
        self.labels: dict[str, list[str] | None] = {"bottom": None, "left": None}
        self._ticks_key: dict[str, tuple] = {}
        self.marker = QGraphicsRectItem()  # the chosen row or column, outlined
        self.marker.setPen(pg.mkPen(MARK_COLOUR, width=2))
        self.marker.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.marker.setZValue(10)
        self.marker.hide()
        self.plot.addItem(self.marker, ignoreBounds=True)
        self.marked: tuple[int | None, int | None] = (None, None)
        self.view.sigRangeChanged.connect(lambda *_: self._label_ticks())
        self.view.sigResized.connect(lambda *_: self._label_ticks())  # cells grow with the widget
        self.scene().sigMouseMoved.connect(self._moved)
        self.scene().sigMouseClicked.connect(self._clicked)

    def set_labels(self, bottom: list[str] | None = None, left: list[str] | None = None) -> None:
        """Tokens to name the columns (``bottom``) and rows (``left``) by when zoomed in far
        enough for them to be read; numbered ticks otherwise."""
        self.labels = {
            "bottom": None if bottom is None else [axis_label(t) for t in bottom],
            "left": None if left is None else [axis_label(t) for t in left],
        }
        self._ticks_key = {}
        self._label_ticks()

    def _label_ticks(self) -> None:
        rows, cols = self.shape
        if not rows:
            return
        (x0, x1), (y0, y1) = self.view.viewRange()
        metrics = QFontMetrics(self.font())
        for name, count, lo, hi, pixels in (
            ("bottom", cols, x0, x1, self.view.width()),
            ("left", rows, y0, y1, self.view.height()),
        ):
            axis = self.plot.getAxis(name)
            labels = self.labels.get(name)
            first, last = max(0, math.ceil(lo)), min(count - 1, math.floor(hi))
            cell = pixels / max(hi - lo, 1e-9)  # pixels a cell takes on screen
            shown = labels is not None and len(labels) == count and 0 <= last - first < MAX_LABELS
            if shown:
                assert labels is not None
                need = (
                    max(metrics.horizontalAdvance(labels[i]) for i in range(first, last + 1)) + 6
                    if name == "bottom"
                    else metrics.height()
                )
                shown = cell >= need
            key = ("labels", first, last) if shown else ("numbers", count)
            if self._ticks_key.get(name) == key:
                continue
            self._ticks_key[name] = key
            if shown:
                assert labels is not None
                axis.setTicks([[(i, labels[i]) for i in range(first, last + 1)]])
            else:
                integer_ticks(axis, count)

    def labelled(self, axis: str) -> bool:
        """Whether ``axis`` names its cells by their tokens now (tests)."""
        return self._ticks_key.get(axis, ("",))[0] == "labels"

    def mark(self, row: int | None = None, col: int | None = None) -> None:
        """Outline one row (a query) or one column (a position); neither: no outline."""
        self.marked = (row, col)
        rows, cols = self.shape
        if row is not None and 0 <= row < rows:
            self.marker.setRect(QRectF(-0.5, row - 0.5, cols, 1))
        elif col is not None and 0 <= col < cols:
            self.marker.setRect(QRectF(col - 0.5, -0.5, 1, rows))
        else:
            self.marker.hide()
            return
        self.marker.show()

    def set_data(
        self, data: np.ndarray, levels: tuple[float, float] | None = None, shape: tuple[int, int] | None = None
    ) -> None:
        """Draw ``data`` stretched over ``shape`` (rows, cols: the data's own size, or the
        full size a pooled map stands for)."""
        rows, cols = shape or data.shape
        self.shape = (rows, cols)
        clean = np.nan_to_num(np.asarray(data, dtype=np.float32), nan=0.0)
        self.image.setImage(clean, levels=levels or (float(clean.min()), float(clean.max()) or 1.0))
        # cell (r, c) is centred on (c, r): the axes' integer ticks name cells, not their edges
        self.image.setRect(-0.5, -0.5, cols, rows)
        self.view.setLimits(xMin=-0.5, xMax=cols - 0.5, yMin=-0.5, yMax=rows - 0.5)
        self.view.setRange(xRange=(-0.5, cols - 0.5), yRange=(-0.5, rows - 0.5), padding=0)
        self._ticks_key = {}
        self._label_ticks()
        self.mark(*self.marked)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        return HINT

    def cell_at(self, scene_pos) -> tuple[int, int] | None:
        if not self.shape[0] or not self.plot.sceneBoundingRect().contains(scene_pos):
            return None
        point = self.view.mapSceneToView(scene_pos)
        row, col = math.floor(point.y() + 0.5), math.floor(point.x() + 0.5)
        if 0 <= row < self.shape[0] and 0 <= col < self.shape[1]:
            return row, col
        return None

    def _moved(self, pos) -> None:
        cell = self.cell_at(pos)
        if cell is not None:
            self.hovered.emit(*cell)

    def _clicked(self, event) -> None:
        cell = self.cell_at(event.scenePos())
        if cell is not None:
            self.clicked.emit(*cell)

    def changeEvent(self, event) -> None:  # noqa: N802 - follow theme switches
        if event.type() == QEvent.Type.PaletteChange:
            self.setBackground(plot_background())
        super().changeEvent(event)


class View(QWidget):
    """A view of an inspection: told the inspection and the chosen position; says what it
    shows as JSON (Copy as JSON). ``position_chosen`` asks the panel to move the position;
    ``show_code(layer, part)`` to open the Code view."""

    title = ""
    position_chosen = Signal(int)
    show_code = Signal(int, str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.inspection: Any = None
        self.position = 0
        self.stale = True  # drawn lazily, when the view is first shown after a change

    def set_inspection(self, inspection: Any) -> None:
        self.inspection = inspection
        self.stale = True

    def set_position(self, position: int) -> None:
        self.position = position
        self.stale = True

    def refresh(self) -> None:
        """Draw what changed since the view was last shown."""
        if self.stale and self.inspection is not None:
            self.stale = False
            self.draw()

    def draw(self) -> None:  # pragma: no cover - each view draws itself
        pass

    def changeEvent(self, event) -> None:  # noqa: N802 - follow theme switches
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self.inspection is not None:
            self.restyle()

    def restyle(self) -> None:
        """A theme switch: drawn again in the new palette's colours (text drawn for the old
        theme was dark on dark)."""
        self.stale = True
        if self.isVisible():
            self.refresh()

    def as_json(self) -> dict[str, Any]:
        return {}
