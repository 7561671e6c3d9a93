"""The Trainer's Train and Cancel and the Quantizer's Quantize and Compare are in sight
without scrolling, in the window of a fresh install on a laptop screen (1366×768, 1024×640):
only the panels' own forms scroll, never the shell's scroll area around a panel."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect

pytestmark = pytest.mark.gui


def in_sight(widget, dock) -> bool:
    """``widget`` lies whole within ``dock``'s visible area, and is drawn."""
    rect = QRect(widget.mapTo(dock, QPoint(0, 0)), widget.size())
    return dock.rect().contains(rect) and not widget.visibleRegion().isEmpty()


def test_the_run_buttons_are_in_sight_on_a_laptop_screen(make_studio, qtbot, qapp):
    from PySide6.QtWidgets import QScrollArea

    from studio.qt.main_window import MainWindow
    from studio_trainer.qt.train_panel import TrainPanel, train_a_model

    window = MainWindow(make_studio(discover=True), quit_on_close=False, confirm_close=False)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    qtbot.waitExposed(window)
    shown = window.panels["trainer:train"]
    assert isinstance(shown, TrainPanel)
    trainer = train_a_model(shown.ctx)  # as the home page's "Train a model"
    quantizer = window.show_panel("quantizer:panel")
    assert trainer is not None and quantizer is not None
    for panel in (trainer, quantizer):  # small enough that the shell's scroll area never scrolls
        hint = panel.minimumSizeHint()
        assert hint.width() <= 300 and hint.height() <= 300, (panel.objectName(), hint)
    for size in ((1366, 768), (1024, 640)):
        window.resize(*size)
        for panel_id, buttons in (
            ("trainer:train", ("train_button", "cancel_button", "status")),
            ("quantizer:panel", ("quantize_button", "compare_button", "cancel_button")),
        ):
            widget = window.show_panel(panel_id)
            qapp.processEvents()
            dock, outer = window.docks[panel_id], window.docks[panel_id].widget()
            assert isinstance(outer, QScrollArea)  # the shell's, around every panel
            assert outer.verticalScrollBar().maximum() == 0 and outer.horizontalScrollBar().maximum() == 0, size
            for name in buttons:
                assert in_sight(getattr(widget, name), dock), (size, panel_id, name)
