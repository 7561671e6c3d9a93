"""Light / dark theme. "system" follows the OS colour scheme (Qt ≥ 6.5 reports it, and
Fusion repaints itself when the OS switches); "light" and "dark" force one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


def apply_theme(app: QApplication, theme: str) -> None:
    app.setStyle("Fusion")
    hints = QGuiApplication.styleHints()
    scheme = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}.get(theme, Qt.ColorScheme.Unknown)
    if hasattr(hints, "setColorScheme"):  # Qt 6.8+: Unknown = follow the OS
        hints.setColorScheme(scheme)
    app.setPalette(app.style().standardPalette())


def is_dark() -> bool:
    window = QApplication.palette().color(QPalette.ColorRole.Window)
    return window.lightness() < 128
