"""A timeline of a run's spans: one bar per span on a shared time axis, so calls that ran
in parallel sit side by side. A legend (span kinds by colour, and the run's length) and a
time axis with ticks in ms or s stay at the top while the rows scroll. Paints only the
rows in view (10,000 spans stay smooth)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QAbstractScrollArea

KIND_COLORS = {
    "workflow": QColor(120, 120, 160),
    "node": QColor(90, 130, 190),
    "module": QColor(150, 110, 180),
    "predictor": QColor(110, 160, 200),
    "llm": QColor(230, 150, 60),
    "load": QColor(200, 110, 160),
    "tool": QColor(90, 170, 110),
    "retriever": QColor(170, 150, 70),
    "parse": QColor(170, 170, 170),
}
OTHER_COLOR = QColor(150, 150, 150)
ERROR_COLOR = QColor(200, 60, 60)
ROW = 18
LABELS = 140  # pixels: the span names' column, left of the bars
HEADER = 2 * ROW  # the legend row and the axis row, above the spans
MIN_TICK_GAP = 80  # pixels between two ticks at least


def tick_step(seconds: float, width: float, min_gap: float = MIN_TICK_GAP) -> float:
    """A round step (1, 2 or 5 × a power of ten, in seconds) giving ticks at least
    ``min_gap`` pixels apart over ``width`` pixels for ``seconds``."""
    if seconds <= 0 or width <= 0:
        return 1.0
    raw = seconds * min_gap / width
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))


def tick_label(t: float, step: float, seconds: float) -> str:
    """``t`` seconds as an axis label, for ticks ``step`` apart on a run of ``seconds``: in
    ms for a run under a second, else in s (with the decimals the step needs)."""
    if seconds < 1.0:
        decimals = max(0, -math.floor(math.log10(step * 1000) + 1e-9))
        return f"{t * 1000:.{decimals}f} ms"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{t:.{decimals}f} s"


def duration_text(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


class Timeline(QAbstractScrollArea):
    span_clicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []
        self._depth: dict[str, int] = {}
        self.t0 = self.t1 = 0.0
        self.selected: set[str] = set()
        self.setMouseTracking(True)
        self.verticalScrollBar().setSingleStep(ROW)

    def set_spans(self, records: list[dict[str, Any]], depth_of: Callable[[str], int] | None = None) -> None:
        """``records`` in display order (depth first); indented by ``depth_of(id)``."""
        self.rows = [r for r in records if r.get("start")]
        self._depth = {r["id"]: (depth_of(r["id"]) if depth_of else 0) for r in self.rows}
        starts = [r["start"] for r in self.rows]
        ends = [r["start"] + (r.get("duration") or 0.0) for r in self.rows]
        self.t0, self.t1 = (min(starts), max(ends)) if starts else (0.0, 0.0)
        self._update_range()
        self.viewport().update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(600, 220)

    def _update_range(self) -> None:
        visible = max(0, self.viewport().height() - HEADER)
        self.verticalScrollBar().setRange(0, max(0, len(self.rows) * ROW - visible))
        self.verticalScrollBar().setPageStep(visible)

    def resizeEvent(self, event) -> None:  # noqa: N802
        self._update_range()
        super().resizeEvent(event)

    # ---- geometry (also what the tests read)

    def _x(self, t: float, width: float) -> float:
        span = max(self.t1 - self.t0, 1e-9)
        return LABELS + (t - self.t0) / span * (width - LABELS - 10)

    def ticks(self, width: float | None = None) -> list[tuple[float, str]]:
        """The time axis: (x in pixels, label) per tick, from the run's start."""
        width = self.viewport().width() if width is None else width
        seconds = self.t1 - self.t0
        if not self.rows or seconds <= 0:
            return []
        step = tick_step(seconds, width - LABELS - 10)
        count = int(seconds / step + 1e-9)
        return [(self._x(self.t0 + i * step, width), tick_label(i * step, step, seconds)) for i in range(count + 1)]

    def legend(self) -> list[tuple[str, QColor]]:
        """The span kinds in this run, by colour (and errors, when there are any)."""
        kinds = dict.fromkeys(str(r.get("kind")) for r in self.rows)
        items = [(kind, KIND_COLORS.get(kind, OTHER_COLOR)) for kind in KIND_COLORS if kind in kinds]
        items += [(kind, OTHER_COLOR) for kind in kinds if kind not in KIND_COLORS]
        if any(r.get("status") == "error" for r in self.rows):
            items.append(("error", ERROR_COLOR))
        return items

    def row_at(self, y: float) -> int:
        """The row under viewport ``y`` (-1 in the header)."""
        if y < HEADER:
            return -1
        return (int(y) - HEADER + self.verticalScrollBar().value()) // ROW

    # ---- painting

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self.viewport())
        palette = self.palette()
        painter.fillRect(self.viewport().rect(), palette.color(QPalette.ColorRole.Base))
        width = self.viewport().width()
        height = self.viewport().height()
        text = palette.color(QPalette.ColorRole.Text)
        grid = QColor(text)
        grid.setAlpha(40)
        ticks = self.ticks(width)
        for x, _label in ticks:  # faint vertical lines under the bars
            painter.setPen(grid)
            painter.drawLine(QPointF(x, HEADER), QPointF(x, height))
        top = self.verticalScrollBar().value()
        first = top // ROW
        last = min(len(self.rows), first + max(0, height - HEADER) // ROW + 2)
        painter.save()
        painter.setClipRect(QRectF(0, HEADER, width, max(0, height - HEADER)))
        for i in range(first, last):
            record = self.rows[i]
            y = HEADER + i * ROW - top
            painter.setPen(text)
            indent = 8 * self._depth.get(record["id"], 0)
            painter.drawText(
                QRectF(4 + indent, y, LABELS - 4 - indent, ROW),
                Qt.AlignmentFlag.AlignVCenter,
                str(record.get("name") or record.get("id"))[:24],
            )
            x0 = self._x(record["start"], width)
            x1 = max(x0 + 2, self._x(record["start"] + (record.get("duration") or 0.0), width))
            color = KIND_COLORS.get(str(record.get("kind")), OTHER_COLOR)
            if record.get("status") == "error":
                color = ERROR_COLOR
            painter.fillRect(QRectF(x0, y + 3, x1 - x0, ROW - 6), color)
            if record["id"] in self.selected:
                painter.setPen(text)
                painter.drawRect(QRectF(x0, y + 2, x1 - x0, ROW - 4))
        painter.restore()
        self._paint_header(painter, width, text, ticks)

    def _paint_header(self, painter: QPainter, width: int, text: QColor, ticks: list[tuple[float, str]]) -> None:
        palette = self.palette()
        painter.fillRect(QRectF(0, 0, width, HEADER), palette.color(QPalette.ColorRole.Window))
        painter.setPen(text)
        metrics = painter.fontMetrics()
        total = f"total {duration_text(self.t1 - self.t0)}" if self.rows else ""
        room = width - 4 - (metrics.horizontalAdvance(total) + 12 if total else 0)
        x = 4.0
        for kind, color in self.legend():  # legend: a swatch and the kind's name each, as many as fit
            label_width = metrics.horizontalAdvance(kind)
            if x + 14 + label_width > room:
                break
            painter.fillRect(QRectF(x, 5, 10, ROW - 10), color)
            painter.drawText(QRectF(x + 14, 0, label_width + 2, ROW), Qt.AlignmentFlag.AlignVCenter, kind)
            x += 14 + label_width + 12
        if total:
            painter.drawText(
                QRectF(0, 0, width - 4, ROW), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, total
            )
        axis_y = HEADER - 1
        painter.drawLine(QPointF(LABELS, axis_y), QPointF(width - 10, axis_y))
        for i, (tick_x, label) in enumerate(ticks):
            painter.drawLine(QPointF(tick_x, axis_y - 4), QPointF(tick_x, axis_y))
            label_width = metrics.horizontalAdvance(label)
            left = tick_x - label_width / 2 if i else tick_x  # the first label starts at its tick
            left = min(left, width - 4 - label_width)
            painter.drawText(QRectF(left, ROW, label_width + 2, ROW - 4), Qt.AlignmentFlag.AlignVCenter, label)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        row = self.row_at(event.position().y())
        if 0 <= row < len(self.rows):
            self.span_clicked.emit(self.rows[row]["id"])
