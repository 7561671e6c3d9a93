"""An error banner across the top of the workflow editor: a failed run is said here, with a
*Show trace* link, instead of a dialog that would stop the user (and the studio) until
dismissed. Colours are the palette's, so it reads in both themes."""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QStyle, QToolButton

from studio.widgets import contrast_ratio, tone

SHOW_TRACE = "show-trace"  # the link's target
MIN_CONTRAST = 4.5  # WCAG AA, for the link on the banner
MAX_CHARS = 300  # a longer error (a raw reply in it) is cut here; the tooltip has it all


class ErrorBanner(QFrame):
    """Hidden until ``show_error``; *Show trace* emits ``show_trace(run_id)``, × hides it."""

    show_trace = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent, objectName="error_banner", visible=False)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.run_id = ""
        self._short = ""
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
        line = " ".join(text.split())
        self._short = line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1] + "…"  # the whole text: tooltip, trace
        self._render()
        self.text.setToolTip(text)
        self.show()

    def link_colour(self) -> QColor:
        """The palette's link colour where it reads on the banner (the dark theme's does), else
        the theme's info tone: Qt's default link blue is 1.6:1 on a dark window."""
        palette = self.text.palette()
        link, window = palette.color(QPalette.ColorRole.Link), palette.color(QPalette.ColorRole.Window)
        return link if contrast_ratio(link, window) >= MIN_CONTRAST else tone("info", palette)

    def _render(self) -> None:
        colour = self.link_colour().name()
        link = f" <a href='{SHOW_TRACE}' style='color: {colour}'>Show trace</a>" if self.run_id else ""
        self.text.setText(f"{html.escape(self._short)}{link}")

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """The link's colour follows a change of theme."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._short:
            self._render()

    def _link(self, target: str) -> None:
        if target == SHOW_TRACE and self.run_id:
            self.show_trace.emit(self.run_id)
