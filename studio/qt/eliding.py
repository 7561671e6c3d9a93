"""A progress bar whose text fits it.

A job's progress message (``12/345 files · 40 s left``, ``loading the embedder minilm``)
is shown in the bar; QProgressBar centres its text and clips it at the bar's edges, so a
message wider than the bar lost both ends. This one elides the text to the bar's width,
the whole text in its tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QProgressBar

PADDING = 8  # pixels left free around the text


class ElidingProgressBar(QProgressBar):
    def text(self) -> str:  # QProgressBar's style asks for the text to draw through this virtual
        full = super().text()
        room = max(0, self.contentsRect().width() - PADDING)
        metrics = self.fontMetrics()
        if metrics.horizontalAdvance(full) <= room:
            return full
        return metrics.elidedText(full, Qt.TextElideMode.ElideRight, room)

    def full_text(self) -> str:
        return super().text()

    def setFormat(self, format: str) -> None:  # noqa: N802 - Qt's name
        super().setFormat(format)
        self.setToolTip("" if any(code in format for code in ("%p", "%v", "%m")) else format)
