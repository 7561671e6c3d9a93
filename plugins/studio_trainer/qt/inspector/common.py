"""What the Inspector's views share: how a token is shown, id → text, max-pooling a map
for the screen, a heat map widget (pyqtgraph), and the view base class."""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QSize, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QGraphicsItem, QWidget

from studio.widgets import tint

MAX_PIXELS = 1024  # a map is max-pooled to at most this many pixels a side before it is drawn
SHADES = 8  # probability buckets of the token shading


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
    """Token backgrounds from likely (faint) to unlikely (strong), readable in the theme."""
    return [tint("shade", 0.08 + 0.6 * i / (SHADES - 1)) for i in range(SHADES)]


def shade_of(p: float) -> int:
    """The shade bucket of a probability, one per halving (bits of surprise): the less
    likely, the stronger; 1/128 and below all strongest."""
    if not math.isfinite(p) or p <= 0:
        return -1 if not math.isfinite(p) else SHADES - 1
    return min(SHADES - 1, int(-math.log2(min(p, 1.0))))


def plot_background() -> QColor:
    return QApplication.palette().color(QPalette.ColorRole.Base)


def integer_ticks(axis: pg.AxisItem, count: int) -> None:
    """Ticks on whole numbers only (layers, heads, positions), no SI prefix on the labels."""
    axis.enableAutoSIPrefix(False)
    if count <= 12:
        axis.setTicks([[(i, str(i)) for i in range(count)]])
    else:
        axis.setTicks(None)


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
        self.scene().sigMouseMoved.connect(self._moved)
        self.scene().sigMouseClicked.connect(self._clicked)

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
        for axis, count in (("bottom", cols), ("left", rows)):
            integer_ticks(self.plot.getAxis(axis), count)

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

    def as_json(self) -> dict[str, Any]:
        return {}
