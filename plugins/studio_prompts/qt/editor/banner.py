"""An error banner across the top of the workflow editor: a failed run is said here, with a
*Show trace* link, instead of a dialog that would stop the user (and the studio) until
dismissed. Colours are the palette's, so it reads in both themes."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QToolButton

SHOW_TRACE = "show-trace"  # the link's target
MAX_CHARS = 300  # a longer error (a raw reply in it) is cut here; the tooltip has it all


class ErrorBanner(QFrame):
    """Hidden until ``show_error``; *Show trace* emits ``show_trace(run_id)``, × hides it."""

    show_trace = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent, objectName="error_banner", visible=False)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.run_id = ""
        icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(size, size))
        self.text = QLabel(objectName="error_text", wordWrap=True, openExternalLinks=False)
        self.text.linkActivated.connect(self._link)
        close = QToolButton(text="×", objectName="close_banner", autoRaise=True, toolTip="Hide this message")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 3, 3, 3)
        layout.addWidget(icon)
        layout.addWidget(self.text, 1)
        layout.addWidget(close)

    def show_error(self, text: str, run_id: str = "") -> None:
        """Say ``text``; with a *Show trace* link when the run ``run_id`` has one."""
        self.run_id = run_id
        link = f" <a href='{SHOW_TRACE}'>Show trace</a>" if run_id else ""
        line = " ".join(text.split())
        short = line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1] + "…"  # the whole text: tooltip, trace
        self.text.setText(f"{html.escape(short)}{link}")
        self.text.setToolTip(text)
        self.show()

    def _link(self, target: str) -> None:
        if target == SHOW_TRACE and self.run_id:
            self.show_trace.emit(self.run_id)
