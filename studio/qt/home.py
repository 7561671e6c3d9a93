"""The central home page: where am I, what can I do, what ran recently."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QMargins, QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import (
    QLabel,
    QLayout,
    QLayoutItem,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
    QWidgetItem,
)

if TYPE_CHECKING:
    from studio.qt.main_window import MainWindow

RECENT_RUNS = 30


class FlowLayout(QLayout):
    """Buttons in a row that wraps onto the next line when the page is narrow (a plain
    row would set the page's minimum width to all of them side by side)."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6):
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self.setSpacing(spacing)
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 - Qt naming
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802
        return self.minimumSize()

    def minimumSize(self) -> QSize:  # noqa: N802
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        margins: QMargins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    def _place(self, rect: QRect, *, move: bool) -> int:
        margins = self.contentsMargins()
        area = rect.marginsRemoved(margins)
        x, y, line = area.x(), area.y(), 0
        for item in self._items:
            if item.isEmpty():
                continue
            hint = item.sizeHint()
            if x > area.x() and x + hint.width() > area.right() + 1:
                x, y, line = area.x(), y + line + self.spacing(), 0
            if move:
                item.setGeometry(QRect(QPoint(x, y), hint))
            x += hint.width() + self.spacing()
            line = max(line, hint.height())
        return y + line - rect.y() + margins.bottom()


def button_row(buttons: list[QPushButton]) -> QWidget:
    row = QWidget()
    flow = FlowLayout(row)
    for button in buttons:
        flow.addItem(QWidgetItem(button))
        button.setParent(row)
    policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
    policy.setHeightForWidth(True)
    row.setSizePolicy(policy)
    return row


class HomePage(QWidget):
    def __init__(self, window: MainWindow):
        super().__init__()
        self.main_window = window
        self.setObjectName("studio:home")
        title = QLabel("<h2>Tensor Studio</h2>")
        self.summary = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.summary)

        # first steps the plugins offer (MenuAction(home=True)): the same actions as their menus'
        self.get_started: list[QPushButton] = []
        for action in window.home_actions:
            button = QPushButton(action.text().replace("&", ""), objectName=f"home:{action.text()}")
            if not action.shortcut().isEmpty():
                button.setToolTip(f"{action.text()} ({action.shortcut().toString()})")
            button.clicked.connect(lambda _c=False, a=action: a.trigger())
            self.get_started.append(button)
        if self.get_started:
            layout.addWidget(QLabel("<b>Get started</b>"))
            layout.addWidget(button_row(self.get_started))

        quick = []
        for text, slot in (
            ("Run job…", window.run_job_dialog),
            ("Open file or run…", window.choose_file),
            ("Open workspace…", window.choose_workspace),
            ("Settings…", window.open_settings),
        ):
            button = QPushButton(text)
            button.clicked.connect(lambda _c=False, s=slot: s())
            quick.append(button)
        layout.addWidget(button_row(quick))
        self.runs = QListWidget()
        self.runs.setObjectName("studio:home:runs")
        self.runs.itemActivated.connect(self._open_run)
        layout.addWidget(
            QLabel("Recent runs — double-click to show their curves; drop files or run folders anywhere", wordWrap=True)
        )
        layout.addWidget(self.runs, 1)
        self.refresh()

    def refresh(self) -> None:
        studio = self.main_window.studio
        kinds = len(studio.host.job_kinds())
        loaded = sum(1 for r in studio.host.records.values() if r.status == "loaded")
        broken = sum(1 for r in studio.host.records.values() if not r.ok and r.status != "disabled")
        self.summary.setText(
            f"Workspace <b>{studio.workspace.name}</b> — {studio.workspace.root}<br>"
            f"{loaded} plugins loaded"
            + (f", <b>{broken} with problems</b> (see Plugins)" if broken else "")
            + f", {kinds} job kinds available."
        )
        self.runs.clear()
        for run in studio.store.list()[:RECENT_RUNS]:
            info = run.info()
            created = info.get("created")
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(created)) if isinstance(created, (int, float)) else ""
            item = QListWidgetItem(f"{when}   {info.get('kind', '?')}   {info.get('status', '?')}   {run.id}")
            item.setData(Qt.ItemDataRole.UserRole, str(run.dir))
            self.runs.addItem(item)

    def _open_run(self, item: QListWidgetItem) -> None:
        from pathlib import Path

        self.main_window.open_path(Path(item.data(Qt.ItemDataRole.UserRole)))
