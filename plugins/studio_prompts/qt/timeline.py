"""A timeline of a run's spans: one bar per span on a shared time axis, so calls that ran
in parallel sit side by side. Paints only the rows in view (10,000 spans stay smooth)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QAbstractScrollArea

KIND_COLORS = {
    "workflow": QColor(120, 120, 160),
    "node": QColor(90, 130, 190),
    "module": QColor(150, 110, 180),
    "predictor": QColor(110, 160, 200),
    "llm": QColor(230, 150, 60),
    "tool": QColor(90, 170, 110),
    "parse": QColor(170, 170, 170),
}
ROW = 18


class Timeline(QAbstractScrollArea):
    span_clicked = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[dict[str, Any]] = []
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
        self.verticalScrollBar().setRange(0, max(0, len(self.rows) * ROW - self.viewport().height()))
        self.viewport().update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(600, 220)

    def resizeEvent(self, event) -> None:  # noqa: N802
        self.verticalScrollBar().setRange(0, max(0, len(self.rows) * ROW - self.viewport().height()))
        self.verticalScrollBar().setPageStep(self.viewport().height())
        super().resizeEvent(event)

    def _x(self, t: float, width: float) -> float:
        span = max(self.t1 - self.t0, 1e-9)
        return 140 + (t - self.t0) / span * (width - 150)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self.viewport())
        palette = self.palette()
        painter.fillRect(self.viewport().rect(), palette.color(QPalette.ColorRole.Base))
        width = self.viewport().width()
        top = self.verticalScrollBar().value()
        first = top // ROW
        last = min(len(self.rows), first + self.viewport().height() // ROW + 2)
        text = palette.color(QPalette.ColorRole.Text)
        for i in range(first, last):
            record = self.rows[i]
            y = i * ROW - top
            painter.setPen(text)
            indent = 8 * self._depth.get(record["id"], 0)
            painter.drawText(
                QRectF(4 + indent, y, 136 - indent, ROW),
                Qt.AlignmentFlag.AlignVCenter,
                str(record.get("name") or record.get("id"))[:24],
            )
            x0 = self._x(record["start"], width)
            x1 = max(x0 + 2, self._x(record["start"] + (record.get("duration") or 0.0), width))
            color = KIND_COLORS.get(str(record.get("kind")), QColor(150, 150, 150))
            if record.get("status") == "error":
                color = QColor(200, 60, 60)
            painter.fillRect(QRectF(x0, y + 3, x1 - x0, ROW - 6), color)
            if record["id"] in self.selected:
                painter.setPen(text)
                painter.drawRect(QRectF(x0, y + 2, x1 - x0, ROW - 4))
        painter.setPen(text)
        seconds = self.t1 - self.t0
        painter.drawText(
            QRectF(140, self.viewport().height() - ROW, width - 150, ROW),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            f"{seconds * 1000:.0f} ms",
        )

    def mousePressEvent(self, event) -> None:  # noqa: N802
        row = (int(event.position().y()) + self.verticalScrollBar().value()) // ROW
        if 0 <= row < len(self.rows):
            self.span_clicked.emit(self.rows[row]["id"])
