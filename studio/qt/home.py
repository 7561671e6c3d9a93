"""The central home page: where am I, what can I do, what ran recently."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QMargins, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHeaderView,
    QLabel,
    QLayout,
    QLayoutItem,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    QWidgetItem,
)

from studio.core.files import StudioFileError
from studio.core.runs import DeleteIncomplete, Run

if TYPE_CHECKING:
    from studio.qt.main_window import MainWindow

#: the most runs the list shows (the newest that pass the filters)
RECENT_RUNS = 200
ALL = ""  # the filters' "any" choice
#: how many run ids the delete confirmation names before "and N more"
NAMED_IN_CONFIRMATION = 12
#: the widest a Get started button grows; a longer title is elided (in full in its tooltip)
BUTTON_MAX_WIDTH = 320


def shown_name(name: str) -> str:
    """A file name as text Qt can hold: a byte that is not UTF-8 (kept by Python as a
    lone surrogate, which Qt would silently drop) is shown escaped, ``exp\\xff1``."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def button_text(title: str) -> str:
    """``title`` as a button shows it: a literal ``&`` (Qt reads ``&x`` as a mnemonic)."""
    return title.replace("&", "&&")


def confirmation_text(run_ids: list[str]) -> str:
    """What the delete confirmation asks: how many runs, and which."""
    named = run_ids[:NAMED_IN_CONFIRMATION]
    more = len(run_ids) - len(named)
    lines = "\n".join(f"  {shown_name(run_id)}" for run_id in named) + (f"\n  … and {more} more" if more else "")
    noun = "run" if len(run_ids) == 1 else "runs"
    return (
        f"Delete {len(run_ids)} {noun} and everything in their folders (params, events, artifacts)?\n\n"
        f"{lines}\n\nThis cannot be undone. Other runs are not touched."
    )


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


def button_row(widgets: list[QWidget]) -> QWidget:
    """``widgets`` side by side, wrapping onto more lines when the row is narrow."""
    row = QWidget()
    flow = FlowLayout(row)
    for widget in widgets:
        flow.addItem(QWidgetItem(widget))
        widget.setParent(row)
    policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
    policy.setHeightForWidth(True)
    row.setSizePolicy(policy)
    return row


class HomePage(QWidget):
    def __init__(self, window: MainWindow):
        super().__init__()
        self.main_window = window
        self.shown_runs: list[Run] = []  # the runs the list's rows show, by index (see _fill_runs)
        self.setObjectName("studio:home")
        title = QLabel("<h2>Tensor Studio</h2>")
        self.summary = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.summary)

        # first steps the plugins offer (MenuAction(home=True)): the same actions as their menus'
        self.get_started: list[QPushButton] = []
        for action in window.home_actions:
            name = window.action_title(action)  # the plugin's title as written (no mnemonic)
            button = QPushButton(objectName=f"home:{name[:200]}")
            metrics = button.fontMetrics()
            button.setText(button_text(metrics.elidedText(name, Qt.TextElideMode.ElideRight, BUTTON_MAX_WIDTH)))
            shortcut = action.shortcut().toString()
            button.setToolTip(f"{name} ({shortcut})" if shortcut else name)
            button.clicked.connect(lambda _c=False, a=action: a.trigger())
            self.get_started.append(button)
        if self.get_started:
            layout.addWidget(QLabel("<b>Get started</b>"))
            layout.addWidget(button_row(list(self.get_started)))

        quick: list[QWidget] = []
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
        layout.addWidget(
            QLabel("Recent runs — double-click to show their curves; drop files or run folders anywhere", wordWrap=True)
        )
        self.kind_filter = QComboBox(objectName="studio:home:kind")
        self.status_filter = QComboBox(objectName="studio:home:status")
        for box, what in ((self.kind_filter, "kinds"), (self.status_filter, "statuses")):
            box.addItem(f"All {what}", ALL)
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            box.currentIndexChanged.connect(self.refresh)
        self.delete_button = QPushButton("Delete…", objectName="studio:home:delete", enabled=False)
        self.delete_button.setToolTip("Delete the selected runs (Del); active runs cannot be deleted")
        self.delete_button.clicked.connect(self.delete_selected)
        self.count = QLabel(objectName="studio:home:count")
        layout.addWidget(button_row([self.kind_filter, self.status_filter, self.delete_button, self.count]))
        self.runs = QTreeWidget(objectName="studio:home:runs", rootIsDecorated=False, uniformRowHeights=True)
        self.runs.setHeaderLabels(["Created", "Kind", "Status", "Run"])
        self.runs.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.runs.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.runs.header().setStretchLastSection(True)
        self.runs.itemActivated.connect(self._open_run)
        self.runs.itemSelectionChanged.connect(self._selection_changed)
        delete_key = QShortcut(QKeySequence.StandardKey.Delete, self.runs, context=Qt.ShortcutContext.WidgetShortcut)
        delete_key.setWhatsThis("Delete the selected runs")
        delete_key.activated.connect(self.delete_selected)
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
        self._fill_runs()

    def workspace_changed(self) -> None:
        """Another workspace: its runs, unfiltered (its kinds and statuses differ)."""
        for box in (self.kind_filter, self.status_filter):
            box.blockSignals(True)
            box.setCurrentIndex(0)
            box.blockSignals(False)
        self.runs.clear()
        self.refresh()

    def _fill_runs(self) -> None:
        studio = self.main_window.studio
        infos = [(run, run.info()) for run in studio.store.list()]
        self._set_choices(self.kind_filter, sorted({str(i.get("kind", "?")) for _, i in infos}), "All kinds")
        self._set_choices(self.status_filter, sorted({str(i.get("status", "?")) for _, i in infos}), "All statuses")
        kind, status = self.kind_filter.currentData(), self.status_filter.currentData()
        shown = [
            (run, info)
            for run, info in infos
            if kind in (ALL, str(info.get("kind", "?"))) and status in (ALL, str(info.get("status", "?")))
        ]
        selected = set(self.selected_ids())
        self.runs.clear()
        # the runs behind the rows, by row: a run's id and folder never go through a Qt
        # string (a folder name that is not UTF-8 would lose its bad byte there, and name
        # another run); the rows show them escaped
        self.shown_runs = [run for run, _ in shown[:RECENT_RUNS]]
        for index, (run, info) in enumerate(shown[:RECENT_RUNS]):
            created = info.get("created")
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(created)) if isinstance(created, (int, float)) else ""
            item = QTreeWidgetItem([when, str(info.get("kind", "?")), str(info.get("status", "?")), shown_name(run.id)])
            item.setData(0, Qt.ItemDataRole.UserRole, index)  # its run: self.shown_runs[index]
            self.runs.addTopLevelItem(item)
            item.setSelected(run.id in selected)  # a refresh (a job's status) keeps what was picked
        filtered = kind != ALL or status != ALL
        limited = f"the newest {RECENT_RUNS} of " if len(shown) > RECENT_RUNS else ""
        total = f"{len(infos)} run" + ("" if len(infos) == 1 else "s")
        self.count.setText(f"{limited}{len(shown)} of {total}" if filtered else f"{limited}{total}")
        self.runs.viewport().update()  # seen under Xvfb: a deleted row's pixels stayed until hovered
        self._selection_changed()

    @staticmethod
    def _set_choices(box: QComboBox, values: list[str], everything: str) -> None:
        """The filter offers the values the runs have; the current choice stays, even when
        no run has it any more."""
        current = box.currentData()
        wanted = [ALL, *values] + ([current] if current not in values and current != ALL else [])
        if [box.itemData(i) for i in range(box.count())] == wanted:
            return
        box.blockSignals(True)
        box.clear()
        box.addItem(everything, ALL)
        for value in wanted[1:]:
            box.addItem(value, value)
        box.setCurrentIndex(max(0, box.findData(current)))
        box.blockSignals(False)

    def run_of(self, item: QTreeWidgetItem) -> Run | None:
        index = item.data(0, Qt.ItemDataRole.UserRole)
        return self.shown_runs[index] if isinstance(index, int) and 0 <= index < len(self.shown_runs) else None

    def selected_runs(self) -> list[Run]:
        """The runs of the selected rows, in the list's order."""
        items = sorted(self.runs.selectedItems(), key=self.runs.indexOfTopLevelItem)
        return [run for run in map(self.run_of, items) if run is not None]

    def selected_ids(self) -> list[str]:
        return [run.id for run in self.selected_runs()]

    def _selection_changed(self) -> None:
        count = len(self.runs.selectedItems())
        self.delete_button.setEnabled(count > 0)
        self.delete_button.setText(f"Delete {count}…" if count > 1 else "Delete…")

    def delete_selected(self) -> None:
        """Delete the runs picked in the list, after a confirmation that names them; an
        active run is refused (nothing is deleted then)."""
        window = self.main_window
        ids = self.selected_ids()
        if not ids:
            return
        active = [job.id for job in window.studio.jobs.active_jobs]
        try:
            window.studio.store.deletable(ids, active)
        except StudioFileError as exc:
            window.show_message(shown_name(f"Nothing deleted: {exc}"), "error")
            return
        answer = QMessageBox.question(
            self,
            "Delete runs",
            confirmation_text(ids),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        store = window.studio.store
        problems = [f"left from an earlier delete: {p}" for p in store.remove_leftovers()]
        try:
            deleted = store.delete(ids, active)
        except DeleteIncomplete as exc:
            deleted = exc.deleted
            problems.insert(0, str(exc))
        except StudioFileError as exc:
            deleted = []
            problems.insert(0, str(exc))
        window.runs_deleted(deleted)  # other panels drop them (Metrics, Jobs, Traces)
        self.runs.clearSelection()
        self.refresh()
        said = ([f"Deleted {len(deleted)} run{'s' if len(deleted) != 1 else ''}"] if deleted else []) + problems
        if said:
            window.show_message(shown_name("; ".join(said)), "error" if problems else "info")

    def _open_run(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        run = self.run_of(item)
        if run is not None:
            self.main_window.open_path(run.dir)
