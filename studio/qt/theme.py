"""Light / dark theme on Qt's Fusion style.

"system" follows the OS colour scheme (Qt ≥ 6.5 reports it, and we re-apply when the OS
switches); "light" and "dark" force one. The dark palette is set explicitly because
Fusion does not follow a forced colour scheme on every platform (X11 for one).
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle, QStyleOption, QToolBar, QToolButton, QWidget

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


#: WCAG 1.4.11: the parts of a control one must see to use it (a check box's box, a button
#: that is only an icon) reach 3:1 against what surrounds them
UI_CONTRAST = 3.0
EXTENSION_BUTTON = "qt_toolbar_ext_button"  # the toolbar's » button for what does not fit


def indicator_border(palette: QPalette | None = None) -> QColor:
    """The outline of an unticked check box or radio button: Fusion's own (the window colour,
    darker) was 1.1:1 on the dark theme's window and base — an empty box could not be seen —
    and 2:1 on the light theme's; moved just enough for ``UI_CONTRAST`` against both."""
    p, role = _palette(palette), QPalette.ColorRole
    return QColor.fromRgb(_indicator_border(p.color(role.Window).rgb(), p.color(role.Base).rgb()))


@lru_cache(maxsize=64)
def _indicator_border(window_rgb: int, base_rgb: int) -> int:  # painted often: computed once per palette
    window, base = QColor.fromRgb(window_rgb), QColor.fromRgb(base_rgb)
    return readable(window.darker(140), window, base, minimum=UI_CONTRAST).rgb()


def extension_icon(vertical: bool = False, palette: QPalette | None = None) -> QIcon:
    """The toolbar's » button, drawn in the palette's text colour (Fusion's grey arrows were
    all but invisible on the dark theme)."""
    scale = 2  # sharp on a high-density screen too
    pixmap = QPixmap(16 * scale, 16 * scale)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.scale(scale, scale)
    painter.setPen(QPen(_palette(palette).color(QPalette.ColorRole.WindowText), 1.6))
    for offset in (3.5, 8.5):
        points = [QPointF(offset, 4), QPointF(offset + 4, 8), QPointF(offset, 12)]
        if vertical:
            points = [QPointF(p.y(), p.x()) for p in points]
        painter.drawPolyline(points)
    painter.end()
    pixmap.setDevicePixelRatio(scale)
    return QIcon(pixmap)


_CHECK, _RADIO = QStyle.PrimitiveElement.PE_IndicatorCheckBox, QStyle.PrimitiveElement.PE_IndicatorRadioButton


class StudioStyle(QProxyStyle):
    """Fusion, with check boxes and radio buttons whose outline can be seen in either theme
    (``indicator_border``) and a visible toolbar » button (``extension_icon``)."""

    def __init__(self) -> None:
        super().__init__("Fusion")

    def name(self) -> str:
        return "fusion"

    def drawPrimitive(self, element, option, painter, widget=None) -> None:  # noqa: N802 - Qt naming
        # every widget's painting comes through here: the common case returns at once
        super().drawPrimitive(element, option, painter, widget)
        if (element != _CHECK and element != _RADIO) or not isinstance(option, QStyleOption):
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, element == _RADIO)
        painter.setPen(QPen(indicator_border(option.palette), 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        box = QRectF(option.rect).adjusted(0.5, 0.5, -0.5, -0.5)
        if element == _RADIO:
            painter.drawEllipse(box.adjusted(0.5, 0.5, -0.5, -0.5))
        else:
            painter.drawRect(box)
        painter.restore()

    def standardIcon(self, icon, option=None, widget=None) -> QIcon:  # noqa: N802 - Qt naming
        sp = QStyle.StandardPixmap
        if icon in (sp.SP_ToolBarHorizontalExtensionButton, sp.SP_ToolBarVerticalExtensionButton):
            return extension_icon(icon == sp.SP_ToolBarVerticalExtensionButton)
        return super().standardIcon(icon, option, widget)


_style: dict[str, StudioStyle] = {}  # kept referenced: the application holds only a C++ pointer


def wants_dark(theme: str) -> bool:
    if theme in ("light", "dark"):
        return theme == "dark"
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def apply_theme(app: QApplication, theme: str) -> None:
    _current["theme"] = theme
    if not isinstance(app.style(), StudioStyle):  # restyling every widget again costs a visible moment
        _style["style"] = StudioStyle()
        app.setStyle(_style["style"])
    app.setPalette(dark_palette() if wants_dark(theme) else app.style().standardPalette())
    _retone(app)
    _extension_buttons(app)
    _plot_colours(app)
    if not _current["connected"]:  # follow the OS while the theme is "system"

        def follow_system(_scheme: Qt.ColorScheme) -> None:
            if _current["theme"] == "system":
                apply_theme(app, "system")

        QGuiApplication.styleHints().colorSchemeChanged.connect(follow_system)
        _current["connected"] = True


def is_dark() -> bool:
    return QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 128


# ---------------------------------------------------------------- colours that follow the theme
#
# Panels that colour text (a status, a search match, a shaded chunk) take the colour from
# here, computed against the palette in use, instead of hard-coding one: a pastel behind
# the palette's text was unreadable in the dark theme (white on light yellow), and a red
# chosen for white was too dark on the dark theme's base. Every colour below keeps WCAG's
# 4.5:1 contrast with what it is drawn on, in either theme (``studio.qt.contrast`` finds
# the coloured text of a widget, for tests).

MIN_CONTRAST = 4.5  # WCAG 2 AA for body text

#: status colours (text): made lighter or darker, keeping the hue, until readable
TONES = {
    "error": "#d03030",
    "warning": "#b9770e",
    "success": "#2e8b57",
    "info": "#3d7bd9",
    "muted": "#808080",
}

#: hues of highlight backgrounds: mixed into the palette's base colour (a pastel in the
#: light theme, a dark shade in the dark one), faded until the palette's text stays readable
TINTS = {
    "match": "#ffd400",  # a search match
    "shade": "#ffd400",  # alternate shading (chunks, tokens)
    "shade-alt": "#3d9bff",
    "chosen": "#ff8c00",  # the one item picked among shaded ones
}


def relative_luminance(colour: QColor | str) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0 black … 1 white)."""
    c = QColor(colour)

    def linear(v: int) -> float:
        x = v / 255
        return x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(c.red()) + 0.7152 * linear(c.green()) + 0.0722 * linear(c.blue())


def contrast_ratio(fg: QColor | str, bg: QColor | str) -> float:
    """WCAG 2 contrast ratio of two colours, 1 (same) to 21 (black on white); order-free."""
    a, b = sorted((relative_luminance(fg), relative_luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def mix(a: QColor | str, b: QColor | str, t: float) -> QColor:
    """``a`` moved a fraction ``t`` (0…1) of the way to ``b``, channel by channel."""
    ca, cb = QColor(a), QColor(b)
    return QColor(*(round(x + (y - x) * t) for x, y in zip(ca.getRgb()[:3], cb.getRgb()[:3], strict=True)))


def readable(colour: QColor | str, *backgrounds: QColor | str, minimum: float = MIN_CONTRAST) -> QColor:
    """``colour``, moved towards black (on light backgrounds) or white (on dark ones) just
    enough to reach ``minimum`` contrast with every one of ``backgrounds``."""
    dark = sum(relative_luminance(bg) for bg in backgrounds) / len(backgrounds) < 0.18
    target = QColor("#ffffff" if dark else "#000000")
    for step in range(21):
        candidate = mix(colour, target, step / 20)
        if all(contrast_ratio(candidate, bg) >= minimum for bg in backgrounds):
            return candidate
    return target


def _palette(palette: QPalette | None) -> QPalette:
    return palette if palette is not None else QApplication.palette()


def tone(name: str, palette: QPalette | None = None) -> QColor:
    """The status colour ``name`` (``TONES``) for text drawn on the palette's base or window
    colour (tables, text views, labels), readable on each. Cheap to ask again (item models
    ask at paint time): computed once per palette."""
    p = _palette(palette)
    role = QPalette.ColorRole
    backgrounds = tuple(p.color(r).rgb() for r in (role.Base, role.AlternateBase, role.Window))
    return QColor(_tone(name, backgrounds))


@lru_cache(maxsize=256)
def _tone(name: str, backgrounds: tuple[int, ...]) -> int:
    return readable(TONES[name], *(QColor.fromRgb(rgb) for rgb in backgrounds)).rgb()


def tint(name: str, strength: float = 0.35, palette: QPalette | None = None) -> QColor:
    """A background of the hue ``name`` (``TINTS``) mixed ``strength`` into the palette's base
    colour, faded until the palette's text on it reaches ``MIN_CONTRAST``."""
    p = _palette(palette)
    base, text = p.color(QPalette.ColorRole.Base), p.color(QPalette.ColorRole.Text)
    t = strength
    while t > 0.02:
        colour = mix(base, TINTS[name], t)
        if contrast_ratio(text, colour) >= MIN_CONTRAST:
            return colour
        t -= 0.02
    return QColor(base)


def probability_tint(p: float, palette: QPalette | None = None) -> QColor:
    """The background of a token of probability ``p``: from the palette's base (likely) to the
    strongest ``chosen`` tint the palette's text stays readable on (unlikely), linear in
    ``1 - p`` over that whole range, so that p 0.3 and 0.6 differ clearly in either theme
    (a fixed strength scale, faded where unreadable, squeezed the dark theme's unlikely end).
    One scale for every token view (Traces' Tokens tab, the Inspector)."""
    pal = _palette(palette)
    base, text = pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Text)
    lo, hi = PROBABILITY_TINT_FLOOR, _strongest_tint("chosen", base.rgb(), text.rgb())
    p = max(0.0, min(1.0, p)) if p == p else 0.0  # NaN: as unlikely as can be
    return mix(base, TINTS["chosen"], lo + max(0.0, hi - lo) * (1.0 - p))


#: a likely token's tint: barely off the base, so token boundaries still show
PROBABILITY_TINT_FLOOR = 0.03


@lru_cache(maxsize=64)
def _strongest_tint(name: str, base: int, text: int) -> float:
    """The largest mix of ``TINTS[name]`` into ``base`` (at most 0.9) on which ``text`` keeps
    ``MIN_CONTRAST`` with a little margin (0.1), in steps of 0.01."""
    strength = 0.9
    while strength > 0 and contrast_ratio(QColor.fromRgb(text), mix(QColor.fromRgb(base), TINTS[name], strength)) < (
        MIN_CONTRAST + 0.1
    ):
        strength -= 0.01
    return max(0.0, strength)


def text_colour(palette: QPalette | None = None) -> QColor:
    """The palette's text colour (what text on a ``tint`` is drawn in)."""
    return _palette(palette).color(QPalette.ColorRole.Text)


TONE_PROPERTY = "studio_tone"


def set_tone(widget: QWidget, name: str | None) -> None:
    """Colour a label's (or any widget's) text with the status colour ``name``, kept readable
    when the theme changes (``apply_theme`` re-tones); None: the palette's own colour."""
    widget.setProperty(TONE_PROPERTY, name or "")
    widget.setStyleSheet(f"color: {tone(name).name()}" if name else "")


def _retone(app: QApplication) -> None:
    for widget in app.allWidgets():
        name = widget.property(TONE_PROPERTY)
        if name:
            set_tone(widget, str(name))


def _extension_buttons(app: QApplication) -> None:
    """Toolbars' » buttons take the new palette's text colour (their icon is set once)."""
    for widget in app.allWidgets():
        if isinstance(widget, QToolButton) and widget.objectName() == EXTENSION_BUTTON:
            bar = widget.parentWidget()
            vertical = isinstance(bar, QToolBar) and bar.orientation() == Qt.Orientation.Vertical
            widget.setIcon(extension_icon(vertical))


def _plot_colours(app: QApplication) -> None:
    """pyqtgraph draws plot titles, axes and tick labels in its own grey, 2.9:1 on the light
    theme's white: the palette's muted tone instead, for plots made from now on and for those
    on screen (their backgrounds are the palette's base colour)."""
    try:
        import pyqtgraph as pg
    except ImportError:  # pragma: no cover - a dependency of the studio
        return
    colour = tone("muted")
    pg.setConfigOption("foreground", colour)
    for widget in app.allWidgets():
        if not isinstance(widget, pg.GraphicsView):
            continue
        for item in widget.scene().items():
            if isinstance(item, pg.PlotItem):
                for name in ("left", "bottom", "right", "top"):
                    axis = item.getAxis(name)
                    axis.setPen(colour)
                    axis.setTextPen(colour)
                if item.titleLabel.text:
                    item.titleLabel.setText(item.titleLabel.text, color=colour)
