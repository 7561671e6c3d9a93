"""First-time guidance: the home page's Get started row, Help → Getting started, Keyboard
shortcuts and Documentation (offscreen)."""

from types import SimpleNamespace

import pytest

from studio.api import MenuAction, PanelSpec, PluginInfo, hookimpl

pytestmark = pytest.mark.gui

CALLS: list[str] = []


def _panel(ctx):
    from PySide6.QtGui import QKeySequence, QShortcut
    from PySide6.QtWidgets import QLabel

    widget = QLabel("a panel")
    shortcut = QShortcut(QKeySequence("Ctrl+Shift+J"), widget)
    shortcut.setWhatsThis("Jump somewhere")
    return widget


GUIDED = SimpleNamespace(
    studio_plugin_info=hookimpl(lambda: PluginInfo(name="Guided", version="1.0")),
    studio_commands=hookimpl(
        lambda: [
            MenuAction("guided.first", "Make a first thing", lambda ctx: CALLS.append(ctx.plugin_id), home=True),
            MenuAction("guided.other", "Something else", lambda ctx: CALLS.append("other"), shortcut="Ctrl+Alt+H"),
        ]
    ),
    studio_panels=hookimpl(lambda: [PanelSpec("guided:panel", "Guided", _panel, area="left")]),
)


@pytest.fixture
def window(make_window):
    CALLS.clear()
    return make_window(("guided", GUIDED))


def test_home_page_get_started_row_runs_the_plugins_first_steps(window):
    buttons = {b.text(): b for b in window.home.get_started}
    assert list(buttons) == ["Make a first thing"]  # only the actions marked home=True
    buttons["Make a first thing"].click()
    assert CALLS == ["guided"]  # the menu action's callback, with the plugin's context


def test_getting_started_dialog_explains_and_offers_the_first_steps(window, qtbot):
    from PySide6.QtWidgets import QLabel, QPushButton

    from studio.qt.help import GettingStartedDialog

    dialog = GettingStartedDialog(window)
    qtbot.addWidget(dialog)
    text = dialog.findChild(QLabel, "getting-started").text()
    assert "Self-test" in text and "Make a first thing" in text and "Reset layout" in text
    next(b for b in dialog.findChildren(QPushButton) if b.text() == "Make a first thing").click()
    assert CALLS == ["guided"]


def test_keyboard_shortcuts_lists_the_shells_plugins_and_panels_keys(window, qtbot):
    from studio.qt.help import ShortcutsDialog, collect_shortcuts

    rows = collect_shortcuts(window)
    assert ("Ctrl+R", "Run job…", "Jobs") in rows
    assert ("Ctrl+Alt+H", "Something else", "Tools") in rows  # a plugin's MenuAction
    assert ("Ctrl+Shift+J", "Jump somewhere", "Guided panel") in rows  # a panel's own shortcut
    assert ("Ctrl+/", "Keyboard shortcuts", "Help") in rows
    assert ("Ctrl+,", "Settings…", "File") in rows  # as the README says (Qt has no standard key for it on Linux)
    dialog = ShortcutsDialog(window)
    qtbot.addWidget(dialog)
    dialog.search.setText("something")
    shown = [row for i, row in enumerate(dialog.rows) if not dialog.table.isRowHidden(i)]
    assert [command for _keys, command, _where in shown] == ["Something else"]


def test_help_menu_and_documentation_open_the_local_readme(window, monkeypatch, qtbot):
    from PySide6.QtGui import QDesktopServices

    from studio.qt.help import DocumentationViewer

    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    titles = [a.text().replace("&", "") for a in help_menu.actions() if not a.isSeparator()]
    assert titles == ["Getting started", "Keyboard shortcuts", "Documentation", "About Tensor Studio"]

    opened = []

    def open_url(url) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr(QDesktopServices, "openUrl", open_url)
    window.documentation()
    assert len(opened) == 1 and opened[0].isLocalFile() and opened[0].toLocalFile().endswith("README.md")
    assert "README.md" in window.statusBar().currentMessage()

    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)  # no viewer for Markdown here
    window.documentation()
    viewer = window.findChild(DocumentationViewer)
    assert viewer is not None and "Quick start" in viewer.browser.toPlainText()
