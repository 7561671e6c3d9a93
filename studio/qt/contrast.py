"""The coloured text a widget shows, and whether it is readable: for tests of a contrast floor.

Text in the palette's own colours is Qt's business; text whose colour or background a panel
set (a status in red, a search match on yellow, a shaded chunk) is where a theme goes
wrong: white on pastel in the dark theme. ``coloured_text(widget)`` finds those pieces in
the widget and its children (labels with a colour or rich text, text views' formatted text
and extra selections, item views' foreground and background roles) with the colours they
are drawn in; ``low_contrast(widget)`` keeps those under ``MIN_CONTRAST``::

    with themed("dark"):
        panel.render_something()
        assert not low_contrast(panel)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QPalette, QTextDocument, QTextFormat
from PySide6.QtGui import Qt as GuiQt  # Qt.mightBeRichText lives in QtGui's Qt namespace
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from studio.qt.theme import MIN_CONTRAST, _current, _retone, apply_theme, contrast_ratio

MAX_ROWS = 500  # of an item view, looked at


@dataclass(frozen=True)
class ColouredText:
    """A piece of text drawn in ``fg`` on ``bg``; ``where`` names the widget it is in."""

    where: str
    text: str
    fg: QColor
    bg: QColor

    @property
    def ratio(self) -> float:
        return contrast_ratio(self.fg, self.bg)

    def __str__(self) -> str:
        return f"{self.where}: {self.text!r} {self.fg.name()} on {self.bg.name()} ({self.ratio:.2f}:1)"


def coloured_text(widget: QWidget) -> Iterator[ColouredText]:
    """Every piece of text in ``widget`` and its children drawn in a colour, or on a
    background, that was set rather than left to the palette."""
    for w in [widget, *widget.findChildren(QWidget)]:
        yield from _of(w)


def low_contrast(widget: QWidget, minimum: float = MIN_CONTRAST) -> list[ColouredText]:
    """The coloured text of ``widget`` under ``minimum`` contrast (WCAG AA: 4.5)."""
    return [piece for piece in coloured_text(widget) if piece.ratio < minimum]


@contextmanager
def themed(theme: str) -> Iterator[None]:
    """Apply ``theme`` ("light" or "dark") to the application for a block, then put the
    palette, style and theme back (tests)."""
    app = QApplication.instance()
    assert isinstance(app, QApplication), "a QApplication is needed"
    # windows closed by earlier tests wait for an event loop to be deleted; each would take
    # the palette change too (most of a switch's cost in a long test session)
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    palette, style, current = QApplication.palette(), app.style().name(), _current["theme"]
    apply_theme(app, theme)
    QApplication.sendPostedEvents()  # widgets learn of a new application palette by posted events
    try:
        yield
    finally:
        if app.style().name() != style:
            app.setStyle(style)
        app.setPalette(palette)
        _current["theme"] = current
        _retone(app)
        QApplication.sendPostedEvents()


def _name(w: QWidget) -> str:
    return w.objectName() or type(w).__name__


def _of(w: QWidget) -> Iterator[ColouredText]:
    role = QPalette.ColorRole
    palette = w.palette()
    if isinstance(w, QLabel):
        w.ensurePolished()  # a style sheet's colour reaches the palette when polished
        fg, bg = w.palette().color(w.foregroundRole()), w.palette().color(role.Window)
        if w.styleSheet() and "color" in w.styleSheet() and w.text().strip():
            yield ColouredText(_name(w), w.text()[:60], fg, bg)
        if w.textFormat() != Qt.TextFormat.PlainText and GuiQt.mightBeRichText(w.text()):
            document = QTextDocument()
            document.setHtml(w.text())
            yield from _document(document, fg, bg, _name(w))
    elif isinstance(w, QTextEdit | QPlainTextEdit):
        fg, bg = palette.color(role.Text), palette.color(role.Base)
        yield from _document(w.document(), fg, bg, _name(w))
        for selection in w.extraSelections():
            fmt = selection.format
            has_fg = fmt.hasProperty(QTextFormat.Property.ForegroundBrush)
            has_bg = fmt.hasProperty(QTextFormat.Property.BackgroundBrush)
            text = selection.cursor.selectedText().strip()
            if (has_fg or has_bg) and text:
                yield ColouredText(
                    f"{_name(w)} (selection)",
                    text[:60],
                    fmt.foreground().color() if has_fg else fg,
                    fmt.background().color() if has_bg else bg,
                )
    elif isinstance(w, QAbstractItemView) and not isinstance(w, QHeaderView) and w.model() is not None:
        yield from _items(w, palette.color(role.Text), palette.color(role.Base))


def _document(document: QTextDocument, fg: QColor, bg: QColor, where: str) -> Iterator[ColouredText]:
    block = document.begin()
    while block.isValid():
        block_format = block.blockFormat()
        block_bg = (
            block_format.background().color() if block_format.hasProperty(QTextFormat.Property.BackgroundBrush) else bg
        )
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.isValid() and fragment.text().strip():
                fmt = fragment.charFormat()
                has_fg = fmt.hasProperty(QTextFormat.Property.ForegroundBrush)
                has_bg = fmt.hasProperty(QTextFormat.Property.BackgroundBrush)
                if has_fg or has_bg or block_bg != bg:
                    yield ColouredText(
                        where,
                        fragment.text().strip()[:60],
                        fmt.foreground().color() if has_fg else fg,
                        fmt.background().color() if has_bg else block_bg,
                    )
            it += 1
        block = block.next()


def _colour(value: object) -> QColor | None:
    if isinstance(value, QBrush):
        return value.color() if value.style() != Qt.BrushStyle.NoBrush else None
    if isinstance(value, QColor):
        return value
    if isinstance(value, Qt.GlobalColor | str):
        return QColor(value)
    return None


def _items(view: QAbstractItemView, fg: QColor, bg: QColor) -> Iterator[ColouredText]:
    model = view.model()
    where = _name(view)

    def walk(parent: QModelIndex) -> Iterator[ColouredText]:
        for row in range(min(model.rowCount(parent), MAX_ROWS)):
            for column in range(model.columnCount(parent)):
                index = model.index(row, column, parent)
                text = model.data(index, Qt.ItemDataRole.DisplayRole)
                item_fg = _colour(model.data(index, Qt.ItemDataRole.ForegroundRole))
                item_bg = _colour(model.data(index, Qt.ItemDataRole.BackgroundRole))
                if (item_fg or item_bg) and str(text or "").strip():
                    yield ColouredText(f"{where} ({row}, {column})", str(text)[:60], item_fg or fg, item_bg or bg)
            first = model.index(row, 0, parent)
            if first.isValid() and model.rowCount(first) > 0:
                yield from walk(first)

    yield from walk(QModelIndex())
