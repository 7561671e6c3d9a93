"""The inspector's table of a predictor's demos (few-shot examples): one row per demo, one
column per signature field — plus any other key the demos already carry (an optimizer's
``reasoning``, say), so nothing in the file is dropped by editing it here.

Cells are text. A value goes back as a string for a ``str`` field; for any other type
(``float``, ``list[str]``…), or a value that was not a string when loaded, it is read as
JSON when it parses, else kept as typed. An empty cell leaves the key out, and an empty
row is no demo."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget


class DemosTable(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = QTableWidget(0, 0, objectName="demos")
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)  # one line per demo; the full text is in the cell editor
        self.table.setMinimumHeight(110)
        self.types: dict[str, str] = {}
        self.add_button = QPushButton("Add demo", clicked=self.add_row)
        self.remove_button = QPushButton("Remove demo", clicked=self.remove_rows)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)

    def columns(self) -> list[str]:
        items = [self.table.horizontalHeaderItem(c) for c in range(self.table.columnCount())]
        return [item.text() if item is not None else "" for item in items]

    def set_demos(self, fields: list[tuple[str, str]], demos: list[dict[str, Any]]) -> None:
        """``fields``: the signature's (name, type) pairs, inputs then outputs."""
        self.types = dict(fields)
        extra = [k for demo in demos for k in demo if k not in self.types]
        columns = list(self.types) + list(dict.fromkeys(extra))
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setRowCount(len(demos))
        for row, demo in enumerate(demos):
            for col, name in enumerate(columns):
                if name in demo:
                    value = demo[name]
                    item = QTableWidgetItem(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
                    item.setData(Qt.ItemDataRole.UserRole, not isinstance(value, str))  # read back as JSON
                    self.table.setItem(row, col, item)

    def set_fields(self, fields: list[tuple[str, str]]) -> None:
        """New signature fields (the signature line was edited): the demos typed so far stay."""
        self.set_demos(fields, self.demos())

    def demos(self) -> list[dict[str, Any]]:
        columns = self.columns()
        out = []
        for row in range(self.table.rowCount()):
            demo = {}
            for col, name in enumerate(columns):
                item = self.table.item(row, col)
                if item is not None and item.text() != "":
                    demo[name] = self._value(name, item.text(), bool(item.data(Qt.ItemDataRole.UserRole)))
            if demo:
                out.append(demo)
        return out

    def _value(self, name: str, text: str, was_json: bool) -> Any:
        if self.types.get(name, "str") == "str" and not was_json:
            return text
        try:
            return json.loads(text)
        except ValueError:
            return text

    def add_row(self) -> None:
        self.table.insertRow(self.table.rowCount())
        self.table.setCurrentCell(self.table.rowCount() - 1, 0)

    def remove_rows(self) -> None:
        for row in sorted({i.row() for i in self.table.selectedIndexes()} or {self.table.currentRow()}, reverse=True):
            if row >= 0:
                self.table.removeRow(row)
