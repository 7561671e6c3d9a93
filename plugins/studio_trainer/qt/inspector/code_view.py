"""Code view: the source of a layer's attention or block type, read-only, scrolled to its
class (a plugin's attention type shows the plugin's file). Until a view's Show code picks a
layer, layer 0's attention type is shown (an empty tab told a newcomer nothing)."""

from __future__ import annotations

import html
import stat
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QTextEdit, QVBoxLayout, QWidget

from studio.widgets import tint

from .common import View

MAX_SOURCE = 2_000_000  # bytes: a larger "source file" is not shown


class CodeView(View):
    title = "Code"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.where = QLabel("Show code (in Attention or Attribution) opens a layer's source here.", wordWrap=True)
        self.where.setTextFormat(Qt.TextFormat.RichText)  # always markup: every name in it is escaped
        self.where.setObjectName("trainer:inspector-code-where")
        layout.addWidget(self.where)
        self.source = QPlainTextEdit(readOnly=True, objectName="trainer:inspector-code")
        self.source.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.source.setFont(QFont("monospace"))
        layout.addWidget(self.source, 1)
        self.location: tuple[str, int, str] | None = None
        self.note = ""

    def set_inspection(self, inspection: Any) -> None:
        super().set_inspection(inspection)
        self.location = None  # another model's code: layer 0's again until one is picked

    def draw(self) -> None:
        """Layer 0's attention type when no layer was picked yet (Show code draws the rest)."""
        if self.location is not None:
            return
        try:
            file, line, name = self.inspection.code_location(0, "attn")
        except Exception as exc:  # a type without a source file, an inspection saved without it
            self.where.setText(html.escape(f"⚠ {exc}"))
            return
        self.show_location(file, line, name, note=" · layer 0 (Show code in Attention or Attribution picks another)")

    def restyle(self) -> None:
        if self.location is not None:
            self.show_location(*self.location, note=self.note)  # the highlighted line in the new theme's tint

    def show_location(self, file: str, line: int, name: str, note: str = "") -> None:
        """Show ``file`` with ``line`` (1-based, the class line) at the top, highlighted;
        ``note`` follows the location."""
        self.location, self.note = (file, line, name), note
        path = Path(file)
        try:
            if path.suffix != ".py":  # a saved inspection names the file: only Python sources are shown
                raise OSError("not a Python source file")
            if not stat.S_ISREG(path.stat().st_mode):  # a saved inspection's path to a FIFO or /dev/zero
                raise OSError("not a regular file")
            if path.stat().st_size > MAX_SOURCE:
                raise OSError("the file is too large to show")
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            self.where.setText(html.escape(f"⚠ cannot read the source of {name}: {exc}"))
            self.source.clear()
            return
        self.where.setText(f"<b>{html.escape(name)}</b> · {html.escape(file)}:{line}{note}")  # names from files
        self.source.setPlainText(text)
        block = self.source.document().findBlockByNumber(max(0, line - 1))
        cursor = QTextCursor(block)
        self.source.setTextCursor(cursor)
        selection = QTextEdit.ExtraSelection()
        selection.cursor = cursor
        fmt = QTextCharFormat()
        fmt.setBackground(tint("chosen", 0.35))
        fmt.setProperty(QTextFormat.Property.FullWidthSelection, True)
        selection.format = fmt
        self.source.setExtraSelections([selection])
        self.source.verticalScrollBar().setValue(max(0, line - 1))

    def top_line(self) -> str:
        """The first line on screen (tests: the class line)."""
        return self.source.firstVisibleBlock().text()

    def as_json(self) -> dict[str, Any]:
        if self.location is None:
            return {"view": "code"}
        file, line, name = self.location
        return {"view": "code", "file": file, "line": line, "name": name}
