"""Shell problems a GUI walk found: the mouse wheel changing values while scrolling a
panel, the status bar after a workspace switch, pydantic's raw text in forms (offscreen)."""

from typing import Literal

import pytest
from pydantic import BaseModel, Field, ValidationError

pytestmark = pytest.mark.gui


def wheel(widget, delta: int) -> None:
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    centre = QPointF(widget.rect().center())
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre)),
        QPoint(),
        QPoint(0, delta),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_wheel_scrolls_the_panel_unless_the_field_has_the_focus(qtbot, qapp):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QComboBox, QScrollArea, QSlider, QSpinBox, QVBoxLayout, QWidget

    from studio.qt.app import install_wheel_guard

    install_wheel_guard(qapp)  # the studio installs it; once per application
    install_wheel_guard(qapp)
    scroll = QScrollArea(widgetResizable=True)
    qtbot.addWidget(scroll)
    form = QWidget()
    layout = QVBoxLayout(form)
    spin, combo, slider = QSpinBox(value=5), QComboBox(), QSlider(Qt.Orientation.Horizontal, maximum=10, value=5)
    combo.addItems(["a", "b", "c"])
    combo.setCurrentIndex(1)
    for widget in (spin, combo, slider):
        layout.addWidget(widget)
    layout.addSpacing(3000)
    scroll.setWidget(form)
    scroll.resize(240, 200)
    scroll.show()
    qtbot.waitExposed(scroll)
    bar = scroll.verticalScrollBar()

    for widget in (spin, combo):
        assert widget.focusPolicy() == Qt.FocusPolicy.StrongFocus  # the wheel does not take the focus
    for widget in (spin, combo, slider):
        before = bar.value()
        wheel(widget, -120)  # down, over a field without the focus
        assert bar.value() > before, f"{type(widget).__name__}: the panel did not scroll"
    assert (spin.value(), combo.currentIndex(), slider.value()) == (5, 1, 5)

    scroll.activateWindow()
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    before = bar.value()
    wheel(spin, 120)  # the field has the focus: the wheel is its
    assert spin.value() == 6 and bar.value() == before


def test_workspace_switch_leaves_nothing_of_the_old_one_in_the_status_bar(make_window, tmp_path):
    from studio.core.runs import RunStore
    from studio.core.workspace import Workspace

    window = make_window()
    run = window.studio.store.create("x.train", {})
    run.update(status="succeeded")
    window.home.refresh()
    window.home.kind_filter.setCurrentIndex(window.home.kind_filter.findData("x.train"))
    window.jobs_label.setText("1 job running — Training")  # as the old workspace left it
    window.statusBar().showMessage("model.ckpt: opened in Generate", 60_000)
    other = Workspace.create(tmp_path / "other")
    RunStore(other.runs).create("y.eval", {}).update(status="failed")

    window._switch(lambda: other)
    assert window.statusBar().currentMessage() == f"Workspace {other.root}"
    assert window.jobs_label.text() == "no jobs running"  # not after the next tick of the timer
    assert window.workspace_label.text() == f"workspace: {other.root}"
    home = window.home
    assert home.kind_filter.currentData() == "" and home.runs.topLevelItemCount() == 1  # its runs, unfiltered
    assert home.kind_filter.findData("x.train") == -1


class Nested(BaseModel):
    n_layer: int = Field(2, ge=1)


class Settings(BaseModel):
    model_config = {"extra": "forbid"}

    steps: int = Field(10, ge=1)
    rate: float = 1.0
    fail_at_step: int | None = None
    mode: Literal["fast", "slow"] = "fast"
    name: str = Field(..., min_length=1, title="Run name")
    model: Nested = Nested()
    tags: list[int] = []


def test_params_form_says_what_is_wrong_one_line_per_field(qtbot):
    from studio.qt.params_form import ParamsForm, describe_validation_error

    form = ParamsForm(Settings)
    qtbot.addWidget(form)
    form.editors["fail_at_step"][0].setText("soon")
    form.editors["tags"][0].setText('[1, "x"]')
    form.editors["steps"][0].setValue(0)  # the spin box keeps it at 1: its bound
    with pytest.raises(ValidationError) as caught:
        form.validate()
    assert form.error_text(caught.value).splitlines() == [
        "Fail at step: must be a whole number",
        "Run name: must not be empty",
        "Tags [2]: must be a whole number",
    ]

    with pytest.raises(ValidationError) as caught:
        Settings.model_validate({"steps": 0, "rate": "fast", "mode": "medium", "model": {"n_layer": 0}, "x": 1})
    lines = describe_validation_error(Settings, caught.value).splitlines()
    assert lines == [
        "Steps: must be at least 1",
        "Rate: must be a number",
        "Mode: must be one of 'fast' or 'slow'",
        "Run name: is required",
        "Model › n layer: must be at least 1",
        "X: is not a setting of this form",
    ]
    assert not any("Input should" in line or "pydantic" in line for line in lines)
