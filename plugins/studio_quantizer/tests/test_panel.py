"""The Quantizer panel, offscreen: quantize from the form, the report fills the summary, the
layer table and the histograms; a bad checkpoint shows the error."""

from __future__ import annotations

import pytest

import studio_quantizer.hooks as quantizer_hooks
from studio.api import RunStatus
from studio.testing import loop_until

pytestmark = pytest.mark.gui


def run_in_loop(window, loop, start):
    async def go():
        run_id = start()
        job = (
            window.studio.jobs.jobs[run_id]
            if run_id in window.studio.jobs.jobs
            else list(window.studio.jobs.jobs.values())[-1]
        )
        await window.studio.jobs.wait(job)
        return job

    return loop.run_until_complete(go())


def test_quantize_from_the_panel_shows_the_report(make_window, qasync_loop, qtbot, checkpoint):
    window = make_window(("quantizer", quantizer_hooks))
    panel = window.show_panel("quantizer:panel")
    panel.checkpoint.setText(str(checkpoint))
    panel.form.editors["bits"][0].setValue(4)
    panel.form.editors["granularity"][0].setCurrentText("group")
    job = run_in_loop(window, qasync_loop, panel.quantize)
    assert job.status == RunStatus.SUCCEEDED, job.error
    loop_until(qasync_loop, lambda: panel.table.rowCount() == 2)
    assert panel.quantize_button.isEnabled() and not panel.cancel_button.isEnabled()  # idle again
    assert "int4-sym-group32" in panel.summary.text() and "4.50 bits per weight" in panel.summary.text()
    assert panel.table.item(0, 0).text().endswith(".weight")
    assert panel.weights_plot.getPlotItem().listDataItems() and panel.error_plot.getPlotItem().listDataItems()
    grid_lines = [i for i in panel.weights_plot.getPlotItem().items if type(i).__name__ == "InfiniteLine"]
    assert len(grid_lines) == 15  # int4 symmetric: codes -7..7
    assert window.studio.settings.plugin_settings["quantizer"]["last"]["bits"] == 4

    panel.checkpoint.setText(str(checkpoint.parent / "missing"))
    job = run_in_loop(window, qasync_loop, panel.quantize)
    loop_until(qasync_loop, lambda: f"Quantizing {RunStatus.FAILED}" in panel.summary.text())
    assert "no such checkpoint" in panel.summary.text()


def test_compare_and_sweep_from_the_panel(make_window, qasync_loop, checkpoint, tmp_path):
    window = make_window(("quantizer", quantizer_hooks))
    panel = window.show_panel("quantizer:panel")
    panel.checkpoint.setText(str(checkpoint))
    panel.schemes.setText("int8,int4-g32,int2-tensor")
    job = run_in_loop(window, qasync_loop, panel.compare)
    assert job.status == RunStatus.SUCCEEDED, job.error
    loop_until(qasync_loop, lambda: panel.compare_table.rowCount() == 3)
    headers = [panel.compare_table.horizontalHeaderItem(i).text() for i in range(panel.compare_table.columnCount())]
    assert "bits_per_weight" in headers and panel.tabs.currentIndex() == 1
    assert panel.sweep() is None and "measure text" in panel.summary.text()  # the sweep needs a text


def test_a_report_that_is_not_one_is_shown_as_an_error(make_window, tmp_path, monkeypatch):
    window = make_window(("quantizer", quantizer_hooks))
    panel = window.show_panel("quantizer:panel")
    messages = []
    monkeypatch.setattr(panel.ctx, "show_message", lambda text, level="info": messages.append((level, text)))
    (tmp_path / "report.json").write_text('{"rows": []}')
    panel.open_report(tmp_path / "report.json")
    panel.open_report(tmp_path / "missing.json")
    assert [level for level, _ in messages] == ["error", "error"] and "not a quantize report" in messages[0][1]
