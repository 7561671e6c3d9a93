"""The Help menu's dialogs: every keyboard shortcut, getting started, the documentation.

Everything here works offline: the documentation is the README and docs/ of the source
checkout (opened as local files), or the README the installed package carries.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from studio.qt.home import BUTTON_MAX_WIDTH, button_text

if TYPE_CHECKING:
    from studio.qt.main_window import MainWindow

#: the project's folder in a source checkout (where README.md and docs/ are)
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def plain(text: str) -> str:
    """A menu text as a person reads it: without the ``&`` that marks its mnemonic."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")


def key_text(sequences: list[QKeySequence]) -> str:
    return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in sequences if not s.isEmpty())


def collect_shortcuts(window: MainWindow) -> list[tuple[str, str, str]]:
    """Every keyboard shortcut of the window as (keys, command, where): the menus'
    (the shell's and the plugins' menu actions) and those the panels define (their
    actions and QShortcuts, named by ``whatsThis`` or the object name)."""
    rows: list[tuple[str, str, str]] = []

    def walk(menu: QMenu, where: str) -> None:
        for action in menu.actions():
            submenu = action.menu()
            if isinstance(submenu, QMenu):
                walk(submenu, f"{where} → {plain(submenu.title())}")
            elif not action.isSeparator() and key_text(action.shortcuts()):
                rows.append((key_text(action.shortcuts()), plain(action.text()), where))

    for top in window.menuBar().actions():
        menu = top.menu()
        if isinstance(menu, QMenu):
            walk(menu, plain(menu.title()))
    for panel_id, panel in window.panels.items():
        dock = window.docks.get(panel_id)
        where = f"{dock.windowTitle() if dock is not None else panel_id} panel"
        for action in panel.findChildren(QAction):
            if key_text(action.shortcuts()):
                rows.append((key_text(action.shortcuts()), plain(action.text()) or action.objectName(), where))
        for shortcut in panel.findChildren(QShortcut):
            keys = key_text([shortcut.key()])
            if keys:
                rows.append((keys, shortcut.whatsThis() or shortcut.objectName() or "(a command of the panel)", where))
    seen: set[tuple[str, str, str]] = set()
    return [r for r in rows if not (r in seen or seen.add(r))]  # type: ignore[func-returns-value]


class ShortcutsDialog(QDialog):
    """A searchable table of every shortcut."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(620, 480)
        self.rows = collect_shortcuts(window)
        self.search = QLineEdit(placeholderText="Filter by key or command", clearButtonEnabled=True)
        self.table = QTableWidget(len(self.rows), 3, objectName="shortcuts")
        self.table.setHorizontalHeaderLabels(["Keys", "Command", "Where"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for i, row in enumerate(self.rows):
            for j, text in enumerate(row):
                self.table.setItem(i, j, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.search.textChanged.connect(self._filter)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)

    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i, row in enumerate(self.rows):
            self.table.setRowHidden(i, bool(needle) and not any(needle in cell.lower() for cell in row))


GETTING_STARTED = """
<p>Tensor Studio runs everything as a <b>job</b>. Each run keeps its parameters, every
event it logged and what it made in a folder of the workspace (<code>runs/</code>), so
you can reopen, compare and clean up runs later: they are listed on the home page.</p>
<ol>
<li><b>Check the installation</b>: <i>Jobs → Run job… → Self-test</i> streams curves
into the Metrics panel.</li>
{steps}
<li><b>Open any panel</b> from the <i>View</i> menu; it joins its side of the window as a
tab. <i>View → Reset layout</i> brings the first-start layout back.</li>
<li><b>Drop</b> a run folder, workflow or model file on the window to open it.</li>
</ol>
<p>Every panel's job also runs from the command line: <code>tensor-studio --help</code>.
<i>Help → Keyboard shortcuts</i> lists the keys; <i>Help → Documentation</i> opens the
README.</p>
"""


class GettingStartedDialog(QDialog):
    """A short tour, with a button for each first step the plugins offer (the home page's
    *Get started* row)."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.setWindowTitle("Getting started")
        self.setMinimumWidth(460)
        actions = window.home_actions
        steps = "".join(
            f"<li><b>{html.escape(plain(a.text()))}</b>: the button on the home page.</li>" for a in actions
        )
        text = QLabel(GETTING_STARTED.format(steps=steps), wordWrap=True, objectName="getting-started")
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        for action in actions:  # a long title elided (whole in the tooltip), a literal & kept
            name = window.action_title(action)
            shown = self.fontMetrics().elidedText(name, Qt.TextElideMode.ElideRight, BUTTON_MAX_WIDTH)
            button = QPushButton(button_text(shown))
            button.setToolTip(name)
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
            button.clicked.connect(lambda _c=False, a=action: self._run(a))
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _run(self, action: QAction) -> None:
        self.accept()
        action.trigger()


def documentation_files() -> list[Path]:
    """The README and docs/*.md of a source checkout, README first; empty when installed
    from a wheel (its README is in the package metadata: ``packaged_readme``)."""
    readme = SOURCE_ROOT / "README.md"
    if not readme.is_file():
        return []
    docs = sorted((SOURCE_ROOT / "docs").glob("*.md")) if (SOURCE_ROOT / "docs").is_dir() else []
    return [readme, *docs]


def packaged_readme() -> str:
    from importlib import metadata

    try:
        meta = metadata.metadata("tensor-studio")
    except metadata.PackageNotFoundError:
        return ""
    return str(meta.get_payload() or meta.get("Description") or "")  # type: ignore[attr-defined]


def open_documentation(window: QWidget) -> str:
    """Open the README as a local file (the OS's viewer for Markdown); where that is not
    possible, show it in a window of the studio. Returns what was opened, for the status bar."""
    files = documentation_files()
    if files and QDesktopServices.openUrl(QUrl.fromLocalFile(str(files[0]))):
        return str(files[0])
    text = files[0].read_text(encoding="utf-8", errors="replace") if files else packaged_readme()
    viewer = DocumentationViewer(window, text, files)
    viewer.show()
    return str(files[0]) if files else "the README"


class DocumentationViewer(QDialog):
    """The README rendered as Markdown, with the other documentation files as links."""

    def __init__(self, parent: QWidget, text: str, files: list[Path]):
        super().__init__(parent)
        self.setWindowTitle("Tensor Studio — documentation")
        self.resize(820, 640)
        self.browser = QTextBrowser(objectName="documentation", openExternalLinks=False, openLinks=False)
        if files:
            self.browser.setSearchPaths([str(files[0].parent)])
        self.browser.setMarkdown(text or "The documentation is not installed: see README.md in the source.")
        self.browser.anchorClicked.connect(self._open)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        self.files = files

    def _open(self, url: QUrl) -> None:
        base = self.files[0].parent if self.files else Path.cwd()
        target = Path(url.toLocalFile()) if url.isLocalFile() else base / url.path()
        if url.scheme() in ("http", "https"):
            QDesktopServices.openUrl(url)  # a link out of the studio: the browser's, if there is one
        elif target.suffix == ".md" and target.is_file():
            self.browser.setMarkdown(target.read_text(encoding="utf-8", errors="replace"))
        elif target.exists():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(target)))
