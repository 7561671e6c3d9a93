"""The span tree as a Qt item model: rows appear as spans arrive, no resets.

Internal pointers are small integers (a span's position in ``_ids``), never Python
objects, so nothing can be garbage-collected under Qt. Filtering is a
``QSortFilterProxyModel`` with recursive filtering: a match keeps its ancestors visible.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from studio.api import RunStatus
from studio.widgets import tone

from ..trace_tree import ROOT, Listener, SpanTree

COLUMNS = ("Span", "Kind", "Status", "Duration", "Tokens", "Cost", "Model")
STATUS_TONES = {  # the theme's status colours (studio.widgets.tone), readable in light and dark
    "error": "error",
    RunStatus.CANCELLED: "warning",
    RunStatus.RUNNING: "info",
    "cached": "success",
}
SPAN_ID_ROLE = Qt.ItemDataRole.UserRole + 1
Index = QModelIndex | QPersistentModelIndex  # what Qt may hand an item model's methods
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 2


def span_label(record: dict[str, Any]) -> str:
    return str(record.get("name") or record.get("id"))


def tokens_of(record: dict[str, Any]) -> int:
    tokens = record.get("tokens")
    if isinstance(tokens, dict):
        return int(tokens.get("prompt", 0)) + int(tokens.get("completion", 0))
    return int(record.get("total_tokens") or 0)


class SpanTreeModel(QAbstractItemModel, Listener):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.tree = SpanTree(self)
        self._ids: list[str] = [ROOT]
        self._ix: dict[str, int] = {ROOT: 0}

    # ---- feeding

    def add_spans(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.tree.add(record)

    def load(self, records: list[dict[str, Any]]) -> None:
        """Many spans at once (a past run): built without per-row signals, then one reset."""
        self.beginResetModel()
        listener, self.tree.listener = self.tree.listener, Listener()
        self.tree.add_many(records)
        self.tree.listener = listener
        self.endResetModel()

    # ---- Listener (called by the tree around each change)

    def begin_insert(self, parent: str, row: int) -> None:
        self.beginInsertRows(self.index_of(parent), row, row)

    def end_insert(self) -> None:
        self.endInsertRows()

    def begin_move(self, parent: str, row: int, to_parent: str, to_row: int) -> None:
        self.beginMoveRows(self.index_of(parent), row, row, self.index_of(to_parent), to_row)

    def end_move(self) -> None:
        self.endMoveRows()

    def updated(self, span_id: str) -> None:
        index = self.index_of(span_id)
        self.dataChanged.emit(index, index.siblingAtColumn(len(COLUMNS) - 1))

    # ---- model

    def _key(self, span_id: str) -> int:
        key = self._ix.get(span_id)
        if key is None:
            key = self._ix[span_id] = len(self._ids)
            self._ids.append(span_id)
        return key

    def index_of(self, span_id: str, column: int = 0) -> QModelIndex:
        if span_id == ROOT or span_id not in self.tree:
            return QModelIndex()
        return self.createIndex(self.tree.row_of(span_id), column, self._key(span_id))

    def span_id(self, index: Index) -> str:
        return self._ids[index.internalId()] if index.isValid() else ROOT

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:
        children = self.tree.children(self.span_id(parent))
        if 0 <= row < len(children) and 0 <= column < len(COLUMNS):
            return self.createIndex(row, column, self._key(children[row]))
        return QModelIndex()

    def parent(self, index: QModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        return self.index_of(self.tree.nodes[self.span_id(index)].parent)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self.tree.children(self.span_id(parent)))

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return len(COLUMNS)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        span_id = self.span_id(index)
        record = self.tree.record(span_id)
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(record, column)
        if role == SPAN_ID_ROLE:
            return span_id
        if role == SEARCH_ROLE:
            return json.dumps(record, ensure_ascii=False, default=str)
        if role == Qt.ItemDataRole.ForegroundRole and column == 2:
            name = STATUS_TONES.get(str(record.get("status")))
            return tone(name) if name else None  # asked at paint time: follows a theme switch
        if role == Qt.ItemDataRole.ToolTipRole and record.get("error"):
            return str(record["error"])
        return None

    @staticmethod
    def _display(record: dict[str, Any], column: int) -> Any:
        if column == 0:
            return span_label(record)
        if column == 1:
            return record.get("kind", "")
        if column == 2:
            return record.get("status", "")
        if column == 3:
            duration = record.get("duration")
            return "" if duration is None else f"{duration * 1000:.1f} ms"
        if column == 4:
            tokens = tokens_of(record)
            return str(tokens) if tokens else ""
        if column == 5:
            cost = record.get("cost") if record.get("kind") == "llm" else record.get("total_cost")
            return f"${cost:.5f}" if cost else ""
        if column == 6:
            return record.get("model", "")
        return None


class SpanFilter(QSortFilterProxyModel):
    """Filter by kind, status, model and free text; ancestors of a match stay visible."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setRecursiveFilteringEnabled(True)
        self.kind = self.status = self.model = self.text = ""
        self._text_of: dict[str, str] = {}  # span id → its record as lower-case JSON, made once per span

    def set_filters(self, kind: str = "", status: str = "", model: str = "", text: str = "") -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9+; invalidateFilter() is deprecated there
            self.beginFilterChange()
            self.kind, self.status, self.model, self.text = kind, status, model, text.lower()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.kind, self.status, self.model, self.text = kind, status, model, text.lower()
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: Index) -> bool:  # noqa: N802
        if not (self.kind or self.status or self.model or self.text):
            return True  # no filter: asked once per row when a run is shown (10,000 for a large trace)
        source: SpanTreeModel = self.sourceModel()  # type: ignore[assignment]
        index = source.index(row, 0, parent)
        record = source.tree.record(source.span_id(index))
        if self.kind and record.get("kind") != self.kind:
            return False
        if self.status and record.get("status") != self.status:
            return False
        if self.model and self.model not in str(record.get("model", "")):
            return False
        if self.text:
            key = source.span_id(index)
            text = self._text_of.get(key)
            if text is None or record.get("status") == "running":  # a running span's record still changes
                text = self._text_of[key] = json.dumps(record, ensure_ascii=False, default=str).lower()
            if self.text not in text:
                return False
        return True
