"""The Intervene view's "Save as intervention…": the current ablation, or a steering
direction from this text and a second one, saved as a program file the provider can load;
a residual patch cannot be saved."""

from __future__ import annotations

import pytest

from .test_inspector_panel import checkpoint, inspected, record_of, window  # noqa: F401  (fixtures)

pytestmark = pytest.mark.gui


def test_save_as_intervention_writes_a_program_file(window, qtbot, checkpoint, tmp_path, monkeypatch):  # noqa: F811
    from PySide6.QtWidgets import QFileDialog

    from studio_trainer.inspect import Steering, load_program

    assert window.open_path(record_of(checkpoint, tmp_path))
    panel = window.panels["trainer:inspector"]
    inspected(qtbot, panel)
    view = panel.intervene
    panel.tabs.setCurrentWidget(view)
    target = tmp_path / "saved"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    view.kind.setCurrentIndex(0)
    view.layer.setValue(1)
    view.mode.setCurrentText("mean")
    view.save_button.click()
    qtbot.waitUntil(lambda: view.status.text().startswith("Saved"), timeout=10_000)
    program = load_program(tmp_path / "saved.json")
    assert program.summary() == "ablate L1H0 (mean)" and program.means[0].shape == (16,)  # a head: 32 / 2 wide
    # a steering direction from this text minus a second text, with its scale
    view.kind.setCurrentIndex(3)
    view.source.setText("sss rrr")
    view.scale.setValue(2.5)
    view.layer.setValue(0)
    view.run_button.click()  # its effect is previewed like any intervention
    qtbot.waitUntil(lambda: view.effect is not None and "KL" in view.status.text(), timeout=10_000)
    view.save_button.click()
    qtbot.waitUntil(lambda: "steer L0 ×2.5" in view.status.text(), timeout=10_000)
    (steer,) = load_program(tmp_path / "saved.json").items
    assert isinstance(steer, Steering) and steer.made_from["text_b"] == "sss rrr" and float(steer.vector.norm()) > 0
    view.kind.setCurrentIndex(2)  # a residual patch: tied to this text's positions
    assert not view.save_button.isEnabled() and "cannot be saved" in view.save_button.toolTip()
