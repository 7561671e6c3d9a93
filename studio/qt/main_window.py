"""The main window: a home page in the centre, every panel in a dock around it.

Docks are named ``"<plugin>:<panel>"`` (the PanelSpec id) so ``saveState`` restores them
whichever order plugins load in. The panels of each dock area share one tab group (a panel
opened from the View menu becomes a tab, in front) and each sits in a scroll area, so no
panel's minimum size grows the window: it fits a 1024×640 screen with every panel open.
A panel factory that raises gets an error page in its dock and a problem in the Plugins
panel; the rest of the window is unaffected.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import traceback
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QByteArray, QRect, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QApplication,
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QScrollArea,
    QTabBar,
    QWidget,
)

from studio.api import Event, Panel, PanelSpec, RunStatus, Status, resolve
from studio.core.files import StudioFileError, read_json, write_json
from studio.core.paths import config_dir
from studio.core.workspace import Workspace, WorkspaceError
from studio.qt.facade import StudioPanelContext
from studio.qt.home import HomePage
from studio.qt.panels.jobs import set_progress

log = logging.getLogger(__name__)

AREAS = {
    "left": Qt.DockWidgetArea.LeftDockWidgetArea,
    "right": Qt.DockWidgetArea.RightDockWidgetArea,
    "top": Qt.DockWidgetArea.TopDockWidgetArea,
    "bottom": Qt.DockWidgetArea.BottomDockWidgetArea,
}
#: the longest plugin action title a menu shows in full (a longer one ends in …)
MENU_TITLE_CHARS = 80
LAYOUT_VERSION = 2  # 2: panels tabbed by area, in scroll areas (a version-1 state stacked them all)
#: the size the window opens at on a screen that has room for it
PREFERRED_SIZE = QSize(1400, 880)
#: the share of the window's width (left, right) and height (bottom) each dock area starts with
AREA_SHARE = {"left": 0.28, "right": 0.36, "bottom": 0.24}
#: the least share of the window's height a side panel gets when it is brought to the front
SIDE_HEIGHT_SHARE = 0.5
#: the share of the width the home page keeps when the panels at the sides want more
CENTRE_SHARE = 0.3


def layout_path() -> Path:
    return config_dir() / "layout.json"


def fitting_size(widget: QWidget) -> QSize:
    """The preferred window size, made to fit the available geometry of the screen the
    window is on (a laptop's 1366×768 less its panels)."""
    available = widget.screen().availableGeometry().size()  # the primary screen until it is shown
    # the window frame (title bar) is outside the size given here: leave room for it
    return PREFERRED_SIZE.boundedTo(QSize(available.width(), max(available.height() - 40, 1)))


def _content_width(dock: QDockWidget) -> int:
    """The width a dock's panel needs to show without scrolling sideways."""
    content = dock.widget()
    inner = content.widget() if isinstance(content, QScrollArea) else None
    if isinstance(content, QScrollArea) and isinstance(inner, QWidget):
        scroll_bar = content.verticalScrollBar().sizeHint().width()
        width = inner.minimumWidth() or inner.minimumSizeHint().width()  # as the scroll area keeps it
        return width + scroll_bar + 2 * content.frameWidth()
    return content.minimumSizeHint().width()


def scrolling(widget: QWidget, name: str) -> QScrollArea:
    """``widget`` in a frameless scroll area that resizes it: it fills the space it is given
    and scrolls when that is less than its minimum size."""
    scroll = QScrollArea()
    scroll.setObjectName(name)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(widget)
    return scroll


class MainWindow(QMainWindow):
    def __init__(
        self,
        studio,
        *,
        restore_layout: bool = True,
        show_all_panels: bool = False,
        confirm_close: bool = True,
        quit_on_close: bool = True,
    ):
        super().__init__()
        from studio.qt.app import install_wheel_guard

        install_wheel_guard(QApplication.instance())  # also where the application was made elsewhere (tests)
        self.studio = studio
        self.confirm_close = confirm_close
        self.quit_on_close = quit_on_close
        self.setObjectName("studio:main")
        self.setWindowTitle(f"Tensor Studio — {studio.workspace.name}")
        self.resize(fitting_size(self))
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        self.docks: dict[str, QDockWidget] = {}
        self.panels: dict[str, QWidget] = {}
        self._panel_errors: dict[str, str] = {}
        self._unsubscribe: list[Any] = []
        self._shutting_down = False
        self._closed = False
        self._layout_pending = False
        self._restored = False
        self._groups: list[list[QDockWidget]] = []

        self.home_actions: list[QAction] = []  # plugin menu actions also on the home page
        self._build_menus()
        self.home = HomePage(self)
        self.setCentralWidget(scrolling(self.home, "studio:home:scroll"))
        self._build_status_bar()
        self._build_docks(show_all_panels)
        if restore_layout:
            self.restore_layout()
        for message in studio.messages:
            self.show_message(message, "warning")
        self._status_timer = QTimer(self, interval=250, timeout=self._refresh_status)
        self._status_timer.start()

    # ------------------------------------------------------------------ building

    def _build_menus(self) -> None:
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        self._action(self.file_menu, "&New workspace…", self.new_workspace, QKeySequence.StandardKey.New)
        self._action(self.file_menu, "Open &workspace…", self.choose_workspace, "Ctrl+Shift+O")
        self.recent_menu = self.file_menu.addMenu("&Recent workspaces")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.file_menu.addSeparator()
        self._action(self.file_menu, "&Open file or run…", self.choose_file, QKeySequence.StandardKey.Open)
        self.file_menu.addSeparator()
        self._action(self.file_menu, "&Settings…", self.open_settings, "Ctrl+,")  # no standard key on Linux
        self.file_menu.addSeparator()
        self._action(self.file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        self.jobs_menu = bar.addMenu("&Jobs")
        self._action(self.jobs_menu, "&Run job…", self.run_job_dialog, "Ctrl+R")
        self._action(self.jobs_menu, "&Cancel all jobs", self.cancel_all, "Ctrl+Shift+X")

        self.view_menu = bar.addMenu("&View")
        self._action(self.view_menu, "Reset &layout", self.reset_layout)
        self.view_menu.addSeparator()
        self._menus: dict[str, Any] = {"File": self.file_menu, "Jobs": self.jobs_menu, "View": self.view_menu}
        self._add_plugin_actions()
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Getting started", self.getting_started, QKeySequence.StandardKey.HelpContents)
        self._action(help_menu, "&Keyboard shortcuts", self.keyboard_shortcuts, "Ctrl+/")
        self._action(help_menu, "&Documentation", self.documentation)
        help_menu.addSeparator()
        self._action(help_menu, "&About Tensor Studio", self.about)

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        menu.addAction(action)
        return action

    def _add_plugin_actions(self) -> None:
        from studio.api import MenuAction

        for plugin_id, command in self.studio.host.commands():
            if not isinstance(command, MenuAction):
                continue
            menu = self._menus.get(command.menu) or self.menuBar().addMenu(command.menu)
            self._menus[command.menu] = menu
            ctx = StudioPanelContext(plugin_id, self)
            title = command.title.strip() or command.id  # an empty title would make an entry no one can see

            def trigger(cmd=command, ctx=ctx, plugin_id=plugin_id, title=title) -> None:
                try:
                    resolve(cmd.callback)(ctx)
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # SystemExit too: a plugin's action must not end the studio
                    self._action_failed(plugin_id, cmd.id, title, exc)

            # the title as written: '&' is a literal ampersand, not a mnemonic; a very long
            # one is shortened in the menu (in full in the status tip)
            shown = title if len(title) <= MENU_TITLE_CHARS else title[: MENU_TITLE_CHARS - 1] + "…"
            action = self._action(menu, shown.replace("&", "&&"), trigger, command.shortcut)
            action.setData(title)
            action.setStatusTip(title)
            if command.home:
                self.home_actions.append(action)

    @staticmethod
    def action_title(action: QAction) -> str:
        """A plugin action's title as the plugin wrote it (no mnemonic, not shortened)."""
        data = action.data()
        return data if isinstance(data, str) else action.text()

    def _action_failed(self, plugin_id: str, action_id: str, title: str, exc: BaseException) -> None:
        """A plugin action raised: recorded as the plugin's problem (the Plugins panel has
        the traceback) and said in one line; the studio keeps running."""
        try:
            self.studio.host.report_problem(plugin_id, f"action {action_id}", exc)
        except Exception:  # an exception that cannot even be described (its str() raises)
            log.exception("plugin %s: action %s failed", plugin_id, action_id)
        try:
            text = str(exc)
        except Exception:
            text = ""
        lines = text.strip().splitlines()
        detail = lines[0][:200] if lines else ""
        if not detail or not isinstance(exc, Exception):  # SystemExit: 3, not just 3
            detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        self.show_message(f"{title[:MENU_TITLE_CHARS]} failed: {detail}", "error")

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.jobs_label = QLabel("no jobs running")
        self.jobs_progress = QProgressBar(maximumWidth=160, maximumHeight=14, textVisible=False)
        self.jobs_progress.hide()
        self.workspace_label = QLabel()
        status.addWidget(self.jobs_label)
        status.addWidget(self.jobs_progress)
        status.addPermanentWidget(self.workspace_label)
        self._update_workspace_label()

    def _build_docks(self, show_all: bool) -> None:
        self._specs: dict[str, PanelSpec] = {}
        self._show_all = show_all
        for spec in self.studio.host.panels().values():
            plugin_id = self.studio.host.owner("studio_panels", spec.id) or "?"
            dock = QDockWidget(spec.title, self)
            dock.setObjectName(spec.id)
            dock.setFeatures(
                QDockWidget.DockWidgetFeature.DockWidgetClosable
                | QDockWidget.DockWidgetFeature.DockWidgetMovable
                | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            )
            widget = self._create_panel(spec, plugin_id)
            # a form taller or wider than the dock scrolls; it neither squashes nor grows the window
            if not isinstance(widget, QAbstractScrollArea):
                widget = scrolling(widget, f"{spec.id}:scroll")
            dock.setWidget(widget)
            self.addDockWidget(self._area(spec), dock)
            toggle = dock.toggleViewAction()
            toggle.triggered.connect(lambda checked, d=dock: self._raise_later(d) if checked else None)
            self.view_menu.addAction(toggle)
            self.docks[spec.id] = dock
            self._specs[spec.id] = spec
        self._arrange_default_layout()
        self._unsubscribe.append(self.studio.bus.subscribe(self._on_status, (Status,)))

    @staticmethod
    def _area(spec: PanelSpec) -> Qt.DockWidgetArea:
        return AREAS.get(spec.area, AREAS["right"])

    def _raise_later(self, dock: QDockWidget) -> None:
        """A panel opened from the View menu comes to the front of its tab group (once the
        layout has placed it), and its side of the window widens to show it whole where
        the home page keeps a third of the width."""

        def front() -> None:
            dock.raise_()
            self._widen_for(dock)

        QTimer.singleShot(0, dock, front)

    def _widen_for(self, dock: QDockWidget) -> None:
        area = self.dockWidgetArea(dock)
        if dock.isFloating() or area not in (AREAS["left"], AREAS["right"]):
            return
        need = _content_width(dock)
        others = sum(
            d.width()
            for d in self.docks.values()
            if d.isVisible()
            and not d.isFloating()
            and self.dockWidgetArea(d) not in (area, AREAS["bottom"])
            and not d.visibleRegion().isEmpty()
        )
        room = int(self.width() * (1 - CENTRE_SHARE)) - others
        if dock.width() < need and room > dock.width():
            self.resizeDocks([dock], [min(need, room)], Qt.Orientation.Horizontal)
        self._heighten_for(dock)

    def _heighten_for(self, dock: QDockWidget) -> None:
        """A side panel brought to the front gets at least ``SIDE_HEIGHT_SHARE`` of the
        window's height: the bottom area, dragged tall for a trace or a log, gives it back
        (the Inspector opened from Traces was 150 px tall at 1366×768)."""
        bottom = [d for d in self._shown_docks("bottom") if not d.visibleRegion().isEmpty()]
        want = int(self.height() * SIDE_HEIGHT_SHARE)
        if not bottom or dock.height() >= want:
            return
        bottom_height = max(1, bottom[0].height() - (want - dock.height()))
        self.resizeDocks(
            bottom[:1], [max(bottom_height, int(self.height() * AREA_SHARE["bottom"]))], Qt.Orientation.Vertical
        )

    def _arrange_default_layout(self) -> None:
        """The first-start layout: each area's panels in one tab group (a panel opened later
        joins its area's tabs instead of taking a slice of it), the panels that ask to be
        shown on first start visible, and each area a share of the window.

        It is reached from any layout by moves (tabify, dock back) and not by
        ``restoreState``: Qt 6 leaves the tab bars of the layout a restored state replaces
        on screen, drawn over the panels."""
        groups: dict[Qt.DockWidgetArea, list[QDockWidget]] = {}
        for panel_id, dock in self.docks.items():
            groups.setdefault(self._area(self._specs[panel_id]), []).append(dock)
        for area, docks in groups.items():
            for dock in docks:
                if dock.isFloating():
                    dock.setFloating(False)
            anchor = docks[0]
            if self.dockWidgetArea(anchor) != area:
                self.addDockWidget(area, anchor)
            for other in docks[1:]:  # each goes to the end of the anchor's tabs: in the panels' order
                self.tabifyDockWidget(anchor, other)
        for panel_id, dock in self.docks.items():
            dock.setVisible(self._show_all or self._specs[panel_id].visible)
        self._groups = list(groups.values())
        if self.isVisible():
            self._front_and_size()
        else:  # tab bars and sizes take effect once the window is laid out: when it is shown
            self._layout_pending = True

    def _front_and_size(self) -> None:
        self._layout_pending = False
        for docks in self._groups:
            shown = [d for d in docks if not d.isHidden()]
            # the Plugins panel is for managing the studio: a working panel goes in front of it
            front = next((d for d in shown if d.objectName() != "studio:plugins"), shown[0] if shown else None)
            if front is not None:
                front.raise_()
        self._size_dock_areas()
        if self.isVisible():
            QTimer.singleShot(0, self._hide_stale_tab_bars)  # once the layout has taken the sizes

    def showEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        if self._layout_pending:
            self._front_and_size()
        elif self._restored:
            self._restored = False
            QTimer.singleShot(0, self._hide_stale_tab_bars)  # once the window is laid out at its size

    def _hide_stale_tab_bars(self, tries: int = 40) -> None:
        """Hide the tab bars no dock group uses any more. Qt 6 leaves some on screen, with
        the tabs they had, drawn over the panels: those made for a group tabbed while the
        window is hidden, and those of a layout that ``restoreState`` replaced. Each time the
        layout is applied it places every tab bar it uses (on screen, or off it when the
        group has one panel shown): a bar it leaves where it was put is stale."""
        layout = self.layout()
        if not self.isVisible() or layout is None:
            return
        if layout.geometry().width() != self.width():  # not laid out at its size yet (a restored
            if tries:  # state waits for the window's final size): later
                QTimer.singleShot(50, self, lambda: self._hide_stale_tab_bars(tries - 1))
            return
        children = self.findChildren(QTabBar, "", Qt.FindChildOption.FindDirectChildrenOnly)
        placed = {bar: bar.geometry() for bar in children if not bar.isHidden()}
        parked = QRect(-32000, -32000, 3, 3)
        for bar in placed:
            bar.setGeometry(parked)
        rect = layout.geometry()  # applied again, all of it: an area whose size is unchanged is skipped
        layout.setGeometry(rect.adjusted(0, 0, -1, -1))
        layout.setGeometry(rect)
        stale = [bar for bar in placed if bar.geometry() == parked]
        if len(stale) == len(placed):  # it placed none: no telling which are used; as they were
            for bar, rect in placed.items():
                bar.setGeometry(rect)
            return
        for bar in stale:  # hidden only: Qt may still hold it (its tabs are left as they are)
            bar.hide()

    def _size_dock_areas(self) -> None:
        """Give each dock area its share of the window, or the width its panels need when
        that is more, as long as the home page keeps a third of the width."""
        size = self.size()
        wanted: dict[str, int] = {}
        for name in ("left", "right"):
            docks = self._shown_docks(name)
            if docks:
                need = max(_content_width(d) for d in docks)
                wanted[name] = max(int(size.width() * AREA_SHARE[name]), need)
        total = sum(wanted.values())
        room = int(size.width() * (1 - CENTRE_SHARE))
        for name, width in wanted.items():
            width = width * room // total if total > room else width
            self.resizeDocks(self._shown_docks(name)[:1], [width], Qt.Orientation.Horizontal)
        bottom = self._shown_docks("bottom")
        if bottom:
            self.resizeDocks(bottom[:1], [int(size.height() * AREA_SHARE["bottom"])], Qt.Orientation.Vertical)

    def _shown_docks(self, area: str) -> list[QDockWidget]:
        return [
            d
            for d in self.docks.values()
            if not d.isHidden() and not d.isFloating() and self.dockWidgetArea(d) == AREAS[area]
        ]

    def _on_status(self, run_id: str, events: list[Event]) -> None:
        if events:
            self.home.refresh()

    def _create_panel(self, spec: PanelSpec, plugin_id: str) -> QWidget:
        ctx = StudioPanelContext(plugin_id, self)
        try:
            widget = resolve(spec.factory)(ctx)
            if not isinstance(widget, QWidget):
                raise TypeError(f"panel factory returned {type(widget).__name__}, not a QWidget")
        except Exception as exc:
            self.studio.host.report_problem(plugin_id, f"panel {spec.id}", exc)
            self._panel_errors[spec.id] = f"{type(exc).__name__}: {exc}"
            page = QPlainTextEdit(readOnly=True)
            page.setObjectName(f"{spec.id}:error")
            page.setPlainText(
                f"The panel '{spec.title}' of plugin '{plugin_id}' could not be created.\n\n"
                + "".join(traceback.format_exception(exc))
            )
            return page
        self.panels[spec.id] = widget
        if isinstance(widget, Panel) and spec.consumes:
            self._unsubscribe.append(self.studio.bus.subscribe(widget.handle_events, spec.consumes))
        return widget

    def _behaving_panels(self) -> list[tuple[str, Panel]]:
        """The panels that take the shell's calls (see ``studio.api.Panel``)."""
        return [(pid, w) for pid, w in self.panels.items() if isinstance(w, Panel)]

    # ------------------------------------------------------------------ panels

    def created_panel_count(self) -> int:
        return len(self.panels)

    def panel_problems(self) -> list[str]:
        return [f"panel {pid}: {msg}" for pid, msg in self._panel_errors.items()]

    def show_panel(self, panel_id: str) -> QWidget | None:
        dock = self.docks.get(panel_id)
        if dock is None:
            return None
        dock.show()
        dock.raise_()
        self._raise_later(dock)  # again once placed, widened to show it whole
        return self.panels.get(panel_id)

    # ------------------------------------------------------------------ layout

    def save_layout(self) -> None:
        panel_state = {}
        for panel_id, panel in self._behaving_panels():
            try:
                state = panel.save_state()
            except Exception as exc:
                log.warning("panel %s could not save its state: %s", panel_id, exc)
                continue
            if state:
                panel_state[panel_id] = state
        data = {
            "version": LAYOUT_VERSION,
            "geometry": base64.b64encode(bytes(self.saveGeometry())).decode(),
            "state": base64.b64encode(bytes(self.saveState(LAYOUT_VERSION))).decode(),
            "panels": panel_state,
        }
        try:
            write_json(layout_path(), data)
        except StudioFileError as exc:
            log.error("could not save the window layout: %s", exc)

    def restore_layout(self) -> bool:
        path = layout_path()
        if not path.exists():
            return False
        try:
            data = read_json(path)
            self.restoreGeometry(QByteArray(base64.b64decode(data["geometry"])))
            ok = self.restoreState(QByteArray(base64.b64decode(data["state"])), LAYOUT_VERSION)
            if ok:  # the saved tabs and sizes, not the first-start ones
                self._layout_pending = False
                self._restored = True
        except (StudioFileError, KeyError, TypeError, ValueError) as exc:
            self.show_message(f"The saved window layout could not be restored ({exc}); using the default.", "warning")
            return False
        saved = data.get("panels") or {}
        for panel_id, panel in self._behaving_panels():
            state = saved.get(panel_id) if isinstance(saved, dict) else None
            if not isinstance(state, dict):
                continue
            try:
                panel.restore_state(state)
            except Exception as exc:
                log.warning("panel %s could not restore its state: %s", panel_id, exc)
        return ok

    def reset_layout(self) -> None:
        """Back to the first-start layout: the same panels shown, in the same places."""
        self._arrange_default_layout()

    # ------------------------------------------------------------------ workspace

    def new_workspace(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose or create a folder for the new workspace")
        if folder:
            self._switch(lambda: Workspace.create(Path(folder)))

    def choose_workspace(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open workspace")
        if folder:
            self._switch(lambda: Workspace.open(Path(folder)))

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.studio.settings.recent_workspaces:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _c=False, p=path: self._switch(lambda: Workspace.open(Path(p))))
        if not self.studio.settings.recent_workspaces:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _switch(self, make) -> None:
        try:
            workspace = make()
            self.studio.switch_workspace(workspace)
        except (WorkspaceError, RuntimeError) as exc:
            self.show_message(str(exc), "error")
            return
        self.setWindowTitle(f"Tensor Studio — {workspace.name}")
        # nothing of the old workspace stays in the status bar: its last message, the jobs
        # line (the timer would take a quarter of a second), the workspace
        self.statusBar().clearMessage()
        self._refresh_status()
        self._update_workspace_label()
        for panel_id, panel in self._behaving_panels():
            try:
                panel.workspace_changed(workspace.root)
            except Exception as exc:
                log.warning("panel %s could not follow the workspace change: %s", panel_id, exc)
        self.home.workspace_changed()
        self.show_message(f"Workspace {workspace.root}", "info")

    def runs_deleted(self, run_ids: list[str]) -> None:
        """Runs were deleted (from the home page): every panel drops them."""
        if not run_ids:
            return
        for panel_id, panel in self._behaving_panels():
            try:
                panel.runs_deleted(list(run_ids))
            except Exception as exc:
                log.warning("panel %s could not drop the deleted runs: %s", panel_id, exc)

    def _update_workspace_label(self) -> None:
        self.workspace_label.setText(f"workspace: {self.studio.workspace.root}")

    # ------------------------------------------------------------------ files

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open file", str(self.studio.workspace.root))
        if path:
            self.open_path(Path(path))

    def open_path(self, path: Path) -> bool:
        """Give ``path`` to the plugin that claims it; tell the user if none does."""
        path = Path(path)
        if not path.exists():
            self.show_message(f"{path} does not exist", "error")
            return False
        claim = self.studio.host.open_path(path)
        if claim is None:
            self.show_message(
                f"No plugin can open {path.name}. Installed plugins open: run folders"
                " (events.jsonl) and the file types they list in the Plugins panel.",
                "warning",
            )
            return False
        plugin_id, action = claim
        if action.panel:
            widget = self.show_panel(action.panel)
            if isinstance(widget, Panel):
                try:
                    widget.open_path(path)
                except Exception as exc:
                    self.show_message(f"{plugin_id} could not open {path.name}: {exc}", "error")
                    return False
        if action.job_kind:
            self.submit_job(action.job_kind, action.job_params)
        self.statusBar().showMessage(f"{path.name}: {action.description}", 5000)
        return True

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_path(Path(url.toLocalFile()))
        event.acceptProposedAction()

    # ------------------------------------------------------------------ jobs

    def submit_job(self, kind: str, params):
        job = self.studio.jobs.submit(kind, params)
        self.show_panel("studio:jobs")
        return job

    def run_job_dialog(self, kind: str | None = None) -> None:
        from studio.qt.dialogs import RunJobDialog

        if not self.studio.jobs.kinds:
            self.show_message("No plugin provides a job kind yet.", "warning")
            return
        dialog = RunJobDialog(self.studio.jobs, self, kind=kind)
        if dialog.exec():
            try:
                self.submit_job(dialog.kind_id, dialog.params)
            except Exception as exc:
                self.show_message(f"The job could not start: {exc}", "error")

    def cancel_all(self) -> None:
        for job in self.studio.jobs.active_jobs:
            self.studio.jobs.cancel(job.id)

    def _refresh_status(self) -> None:
        active = [j for j in self.studio.jobs.active_jobs if j.status == RunStatus.RUNNING]
        queued = len(self.studio.jobs.active_jobs) - len(active)
        if not active and not queued:
            self.jobs_label.setText("no jobs running")
            self.jobs_progress.hide()
            return
        text = f"{len(active)} job{'s' if len(active) != 1 else ''} running"
        if queued:
            text += f", {queued} queued"
        if active:
            text += f" — {active[0].kind.title}"
        self.jobs_label.setText(text)
        set_progress(self.jobs_progress, active[0].fraction if active else None)
        self.jobs_progress.show()

    # ------------------------------------------------------------------ messages, dialogs

    def show_message(self, text: str, level: str = "info") -> None:
        """Status bar for info; the Log panel always; a dialog only for errors the user caused."""
        getattr(log, {"warning": "warning", "error": "error"}.get(level, "info"))(text)
        self.statusBar().showMessage(text, 8000)
        if level == "error" and self.isVisible() and QApplication.platformName() != "offscreen":
            QMessageBox.warning(self, "Tensor Studio", text)

    def open_settings(self) -> None:
        from studio.qt.dialogs import SettingsDialog

        dialog = SettingsDialog(self.studio, self)
        if dialog.exec():
            from studio.qt.theme import apply_theme

            apply_theme(QApplication.instance(), self.studio.settings.theme)
            self.studio.save_settings()

    def getting_started(self) -> None:
        from studio.qt.help import GettingStartedDialog

        GettingStartedDialog(self).exec()

    def keyboard_shortcuts(self) -> None:
        from studio.qt.help import ShortcutsDialog

        ShortcutsDialog(self).exec()

    def documentation(self) -> None:
        from studio.qt.help import open_documentation

        self.statusBar().showMessage(f"Opened {open_documentation(self)}", 5000)

    def about(self) -> None:
        from studio import __version__

        QMessageBox.about(
            self,
            "About Tensor Studio",
            f"<b>Tensor Studio {__version__}</b><p>Build AI from the tensor up: train, prompt, "
            f"quantize and index, with nothing hidden.</p><p>Workspace: {self.studio.workspace.root}</p>",
        )

    # ------------------------------------------------------------------ closing

    def close_without_prompt(self) -> None:
        self.confirm_close = False
        self.close()

    def closeEvent(self, event) -> None:  # noqa: N802
        if self._closed:
            event.accept()
            return
        event.ignore()
        if self._shutting_down:
            return
        active = self.studio.jobs.active_jobs
        if active and self.confirm_close and QApplication.platformName() != "offscreen":
            answer = QMessageBox.question(
                self,
                "Quit Tensor Studio",
                f"{len(active)} job(s) are still running. Cancel them and quit?\n"
                "Their runs keep everything logged so far.",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._shutting_down = True
        self.save_layout()
        self.studio.save_settings()
        loop: asyncio.AbstractEventLoop | None
        try:
            loop = asyncio.get_event_loop()
        except RuntimeError:  # no event loop in this thread
            loop = None
        if active and loop is not None and loop.is_running():
            self.jobs_label.setText("cancelling jobs…")
            self._closing = loop.create_task(self._finish_close())  # kept: a task nobody holds may be collected
        else:
            self.studio.jobs.terminate_all()
            self._really_close()

    async def _finish_close(self) -> None:
        try:
            await self.studio.jobs.shutdown()
        finally:
            self.studio.jobs.terminate_all()
            self._really_close()

    def _really_close(self) -> None:
        self._closed = True
        self._status_timer.stop()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self.close()
        app = cast("QApplication | None", QApplication.instance())  # the stubs omit None (no application)
        if self.quit_on_close and app is not None and not app.closingDown():
            QTimer.singleShot(0, app.quit)
