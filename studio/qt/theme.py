"""Light / dark theme on Qt's Fusion style.

"system" follows the OS colour scheme (Qt ≥ 6.5 reports it, and we re-apply when the OS
switches); "light" and "dark" force one. The dark palette is set explicitly because
Fusion does not follow a forced colour scheme on every platform (X11 for one).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

_current = {"theme": "system", "connected": False}


def dark_palette() -> QPalette:
    p = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    colors = {
        role.Window: "#2b2d31",
        role.WindowText: "#e6e6e6",
        role.Base: "#1e1f22",
        role.AlternateBase: "#26282c",
        role.ToolTipBase: "#1e1f22",
        role.ToolTipText: "#e6e6e6",
        role.Text: "#e6e6e6",
        role.Button: "#33363b",
        role.ButtonText: "#e6e6e6",
        role.BrightText: "#ff6b6b",
        role.Link: "#6cb6ff",
        role.Highlight: "#3d7bd9",
        role.HighlightedText: "#ffffff",
        role.PlaceholderText: "#8a8f98",
        role.Mid: "#3c3f45",
        role.Dark: "#18191b",
        role.Light: "#44474d",
        role.Shadow: "#0d0d0e",
    }
    for r, c in colors.items():
        p.setColor(r, QColor(c))
    for r in (role.Text, role.WindowText, role.ButtonText):
        p.setColor(group.Disabled, r, QColor("#6f737a"))
    return p


def wants_dark(theme: str) -> bool:
    if theme in ("light", "dark"):
        return theme == "dark"
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def apply_theme(app: QApplication, theme: str) -> None:
    _current["theme"] = theme
    app.setStyle("Fusion")
    app.setPalette(dark_palette() if wants_dark(theme) else app.style().standardPalette())
    if not _current["connected"]:  # follow the OS while the theme is "system"

        def follow_system(_scheme: Qt.ColorScheme) -> None:
            if _current["theme"] == "system":
                apply_theme(app, "system")

        QGuiApplication.styleHints().colorSchemeChanged.connect(follow_system)
        _current["connected"] = True


def is_dark() -> bool:
    return QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128
