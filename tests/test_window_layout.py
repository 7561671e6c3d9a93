"""The main window on a laptop screen (offscreen): it fits 1366×768 and 1024×640 with the
default panels, with every panel opened from the View menu and after Reset layout; no two
visible widgets overlap; panels opened later join their area's tabs."""

from types import SimpleNamespace

import pytest

from studio.api import PanelSpec, hookimpl
from studio.testing import assert_fits, assert_no_overlap, overlapping_widgets

pytestmark = pytest.mark.gui

SCREENS = [(1366, 768), (1024, 640)]


@pytest.fixture
def window(qtbot, make_studio):
    """The window over every built-in plugin (twelve panels), as a fresh install opens it."""
    from studio.qt.main_window import MainWindow

    win = MainWindow(make_studio(discover=True), quit_on_close=False, confirm_close=False)
    qtbot.addWidget(win)
    win.resize(*SCREENS[0])
    win.show()
    qtbot.waitExposed(win)
    return win


def layout_of(window) -> dict[str, tuple]:
    """Per panel: its dock area, shown or not, floating or not, the panels in its tab group."""
    return {
        panel_id: (
            window.dockWidgetArea(dock).name,
            dock.isHidden(),
            dock.isFloating(),
            sorted(other.objectName() for other in window.tabifiedDockWidgets(dock)),
        )
        for panel_id, dock in window.docks.items()
    }


def fits_everywhere(window, qapp) -> None:
    for width, height in SCREENS:
        assert_fits(window, width, height)
        qapp.processEvents()
        assert_no_overlap(window)
        for dock in window.docks.values():  # nothing cut off at the window's edges
            if not dock.isHidden() and not dock.isFloating() and not dock.visibleRegion().isEmpty():
                assert window.rect().contains(dock.geometry()), f"{dock.objectName()} sticks out of the window"


def test_window_fits_a_laptop_screen_with_every_panel_and_after_reset(window, qapp, qtbot):
    from PySide6.QtCore import Qt

    assert {"trainer:train", "prompts:editor", "quantizer:panel", "rag:panel"} <= set(window.docks)
    first_start = layout_of(window)
    fits_everywhere(window, qapp)

    # a panel opened from the View menu joins its area's tabs, in front
    metrics, quantizer = window.docks["studio:metrics"], window.docks["quantizer:panel"]
    assert quantizer.isHidden()
    quantizer.toggleViewAction().trigger()
    qtbot.waitUntil(lambda: not quantizer.visibleRegion().isEmpty())
    assert metrics in window.tabifiedDockWidgets(quantizer)
    assert metrics.visibleRegion().isEmpty()  # behind the new tab, not squeezed beside it
    scroll = quantizer.widget()  # a form taller than its dock scrolls inside it
    assert scroll.widgetResizable() and scroll.widget() is window.panels["quantizer:panel"]

    for dock in window.docks.values():  # every panel, opened as a user does
        if dock.isHidden():
            dock.toggleViewAction().trigger()
    qapp.processEvents()
    assert all(not d.isHidden() for d in window.docks.values())
    fits_everywhere(window, qapp)

    window.reset_layout()
    qapp.processEvents()
    assert layout_of(window) == first_start
    fits_everywhere(window, qapp)

    # moved, floated and closed panels come back too
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, window.docks["studio:metrics"])
    window.docks["studio:log"].setFloating(True)
    window.docks["studio:jobs"].close()
    window.show_panel("rag:panel")
    qapp.processEvents()
    assert layout_of(window) != first_start
    window.reset_layout()
    qapp.processEvents()
    assert layout_of(window) == first_start
    assert_no_overlap(window)


def test_window_opens_at_a_size_that_fits_the_screen(qtbot, make_studio):
    from studio.qt.main_window import MainWindow

    win = MainWindow(make_studio(), quit_on_close=False, confirm_close=False)
    qtbot.addWidget(win)
    available = win.screen().availableGeometry()
    assert win.width() <= available.width() and win.height() <= available.height()


def test_overlap_helper_finds_widgets_drawn_over_each_other(qtbot, qapp):
    from PySide6.QtWidgets import QLabel, QLineEdit, QVBoxLayout, QWidget

    form = QWidget()
    qtbot.addWidget(form)
    layout = QVBoxLayout(form)
    layout.setSizeConstraint(QVBoxLayout.SizeConstraint.SetNoConstraint)
    for _ in range(8):
        layout.addWidget(QLineEdit(minimumHeight=30))
    form.resize(300, 400)
    form.show()
    assert overlapping_widgets(form) == []
    form.resize(300, 100)  # eight rows of 30 px in 100 px: drawn over each other
    qapp.processEvents()
    with pytest.raises(AssertionError, match="overlap"):
        assert_no_overlap(form)

    canvas = QWidget()
    qtbot.addWidget(canvas)
    a, b, hidden = QLabel("a", canvas), QLabel("b", canvas), QLabel("c", canvas)
    a.setGeometry(0, 0, 50, 20)
    b.setGeometry(40, 10, 50, 20)
    hidden.setGeometry(0, 0, 50, 20)
    hidden.hide()
    canvas.resize(100, 100)
    canvas.show()
    assert overlapping_widgets(canvas) == [(a, b)]
    assert overlapping_widgets(canvas, ignore=[b]) == []


def _label(ctx):
    from PySide6.QtWidgets import QLabel

    return QLabel("a panel")


def _wide(ctx):
    from PySide6.QtWidgets import QLabel

    return QLabel("a wide panel", minimumWidth=520)


EXTRA_PANELS = SimpleNamespace(  # a tab group in each area, cheap to make
    studio_panels=hookimpl(
        lambda: [
            PanelSpec("x:left", "Left", _label, area="left"),
            PanelSpec("x:right", "Right", _label, area="right"),
            PanelSpec("x:bottom", "Bottom", _label, area="bottom", visible=False),
            PanelSpec("x:wide", "Wide", _wide, area="right", visible=False),
        ]
    )
)


def test_a_restored_layout_comes_back_without_stray_tab_bars(qtbot, qapp, make_studio):
    """The saved layout comes back as it was: panels, places, sizes; no tab bar of the
    first-start layout it replaces is left over the panels."""
    from PySide6.QtCore import Qt

    from studio.qt.main_window import MainWindow

    studio = make_studio(("x", EXTRA_PANELS))
    first = MainWindow(studio, quit_on_close=False, confirm_close=False)
    qtbot.addWidget(first)
    first.show()  # at the size that fits the (offscreen) screen, which the saved geometry keeps
    qtbot.waitUntil(lambda: overlapping_widgets(first) == [])
    first.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, first.docks["studio:jobs"])
    first.show_panel("x:bottom")
    qapp.processEvents()
    saved = layout_of(first)
    sizes = {pid: d.size().toTuple() for pid, d in first.docks.items() if not d.visibleRegion().isEmpty()}
    first.close()

    second = MainWindow(studio, quit_on_close=False, confirm_close=False)
    qtbot.addWidget(second)
    second.show()
    qtbot.waitUntil(lambda: overlapping_widgets(second) == [])
    assert layout_of(second) == saved
    for pid, (width, height) in sizes.items():  # the sizes too: nothing squeezed
        assert second.docks[pid].width() == pytest.approx(width, abs=3), pid
        assert second.docks[pid].height() == pytest.approx(height, abs=3), pid
    assert_fits(second, 1024, 640)


def test_a_panel_opened_from_the_view_menu_gets_the_width_it_needs(qtbot, make_studio):
    from studio.qt.main_window import MainWindow

    window = MainWindow(make_studio(("x", EXTRA_PANELS)), quit_on_close=False, confirm_close=False)
    qtbot.addWidget(window)
    window.resize(*SCREENS[0])
    window.show()
    wide = window.docks["x:wide"]
    assert window.docks["x:right"].width() < 520
    wide.toggleViewAction().trigger()
    qtbot.waitUntil(lambda: wide.width() >= 520)
    assert not wide.widget().horizontalScrollBar().isVisible()
    assert window.centralWidget().width() >= 0.3 * SCREENS[0][0] - 10  # the home page keeps its share


def test_a_side_panel_brought_to_the_front_gets_height_back_from_a_tall_bottom_area(qtbot, make_studio):
    """Traces dragged tall at the bottom left the Inspector (opened from a trace) 150 px tall."""
    from PySide6.QtCore import Qt

    from studio.qt.main_window import SIDE_HEIGHT_SHARE, MainWindow

    window = MainWindow(make_studio(("x", EXTRA_PANELS)), quit_on_close=False, confirm_close=False)
    qtbot.addWidget(window)
    window.resize(*SCREENS[0])
    window.show()
    bottom, right = window.docks["x:bottom"], window.docks["x:wide"]
    window.show_panel("x:bottom")
    qtbot.waitUntil(lambda: not bottom.visibleRegion().isEmpty())
    window.resizeDocks([bottom], [int(window.height() * 0.75)], Qt.Orientation.Vertical)
    qtbot.waitUntil(lambda: bottom.height() > window.height() * 0.6)
    window.show_panel("x:wide")
    qtbot.waitUntil(lambda: right.height() >= window.height() * SIDE_HEIGHT_SHARE - 20)
    assert not bottom.visibleRegion().isEmpty()  # still shown, only shorter
