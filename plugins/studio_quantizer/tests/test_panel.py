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

    # a model that is none is refused before a job starts (a failed job left a run behind)
    for ref, said in ((str(checkpoint.parent / "missing"), "missing: no such folder"), ("no-such-run", "no run")):
        panel.checkpoint.setText(ref)
        jobs_before = len(window.studio.jobs.jobs)
        assert panel.quantize() is None and panel.compare() is None
        assert len(window.studio.jobs.jobs) == jobs_before
        assert panel.summary.text().startswith("⚠ Not started: ") and said in panel.summary.text()
        assert "\n" not in panel.summary.text() and "&#x27;" not in panel.summary.text()

    broken = checkpoint.parent / "broken"  # looks like a model, fails when read: the job says why
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    panel.checkpoint.setText(str(broken))
    job = run_in_loop(window, qasync_loop, panel.quantize)
    loop_until(qasync_loop, lambda: f"Quantizing {RunStatus.FAILED}" in panel.summary.text())
    jobs = window.panels["studio:jobs"]  # its row says it failed and why, not "reading the checkpoint"
    jobs.refresh()
    assert jobs.items[job.id].text(1) == f"failed: {job.error.splitlines()[0]}"
    assert jobs.bars[job.id].format() == "failed" and jobs.bars[job.id].toolTip() == job.error


def test_compare_and_sweep_from_the_panel(make_window, qasync_loop, checkpoint, tmp_path):
    window = make_window(("quantizer", quantizer_hooks))
    panel = window.show_panel("quantizer:panel")
    panel.checkpoint.setText(str(checkpoint))
    panel.schemes.setText("int8,int4-g32,int2-tensor")
    job = run_in_loop(window, qasync_loop, panel.compare)
    assert job.status == RunStatus.SUCCEEDED, job.error
    loop_until(qasync_loop, lambda: panel.compare_table.rowCount() == 3)
    headers = [panel.compare_table.horizontalHeaderItem(i).text() for i in range(panel.compare_table.columnCount())]
    assert headers == ["Scheme", "Model size", "Size vs fp32", "Bits / weight", "Worst SNR"]
    assert panel.tabs.currentIndex() == 1
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


def test_the_comparison_reads_in_a_fixed_order_with_titles_and_sizes_in_mib(make_window):
    """Columns came in alphabetical order, with snake_case names and sizes in raw bytes."""
    from studio_quantizer.qt.quantizer_panel import COMPARE_COLUMNS, SENSITIVITY_COLUMNS, human_size

    window = make_window(("quantizer", quantizer_hooks))
    panel = window.show_panel("quantizer:panel")
    row = {  # as the job's result arrives: JSON, keys sorted
        "bits_per_weight": 4.5,
        "linear_ratio": 0.140625,
        "loss": 2.25,
        "loss_change": 0.0123,
        "model_bytes": 1572864,
        "new_figure": 0.5,
        "scheme": "int4-sym-group32-weight_only",
        "worst_snr_db": 17.25,
    }
    panel.fill(panel.compare_table, [row], COMPARE_COLUMNS)
    table = panel.compare_table
    headers = [table.horizontalHeaderItem(i).text() for i in range(table.columnCount())]
    assert headers == [
        "Scheme",
        "Model size",
        "Size vs fp32",
        "Bits / weight",
        "Loss Δ",
        "Loss",
        "Worst SNR",
        "New figure",
    ]
    cells = [table.item(0, i).text() for i in range(table.columnCount())]
    assert cells == [
        "int4-sym-group32-weight_only",
        "1.50 MiB",
        "0.141×",
        "4.50",
        "+0.0123",
        "2.2500",
        "17.2 dB",
        "0.5",
    ]
    assert table.item(0, 1).toolTip() == "1,572,864 bytes" and table.item(0, 2).toolTip() == "0.140625"
    assert table.horizontalHeaderItem(1).toolTip()  # what the column means
    assert [human_size(n) for n in (812, 3482, 1310720, 3 * 2**30)] == ["812 B", "3.40 KiB", "1.25 MiB", "3.00 GiB"]
    sweep = [{"name": "fc.weight", "bits": 4, "loss_change": -0.5, "snr_db": 20.0}]
    panel.fill(panel.sweep_table, sweep, SENSITIVITY_COLUMNS)
    assert [panel.sweep_table.horizontalHeaderItem(i).text() for i in range(4)] == ["Layer", "Loss Δ", "Bits", "SNR"]


def test_the_group_size_is_off_unless_the_granularity_has_groups_and_bad_scheme_names_read_one_line_each(
    make_window,
):
    """The group size stayed enabled for per-channel scales; the Compare schemes field showed
    pydantic's errors (int1: "Input should be greater…")."""
    window = make_window(("quantizer", quantizer_hooks))
    panel = window.show_panel("quantizer:panel")
    granularity, group_size = panel.form.editors["granularity"][0], panel.form.editors["group_size"][0]
    for choice, enabled in (("channel", False), ("group", True), ("tensor", False)):
        granularity.setCurrentText(choice)
        assert group_size.isEnabled() is enabled, choice
        assert ("no groups" in group_size.toolTip()) is not enabled

    panel.schemes.setText("int8, int1, int4-g1, int4-x, fp16")
    problems = panel.check_schemes()
    assert problems == [
        "'int1': the bits go from 2 to 8 (int2 … int8), not 1",
        "'int4-g1': a group holds at least 2 values (g32, g64, g128…)",
        "'int4-x': unknown part 'x' (parts: -tensor, -channel, -g<size> such as -g32, -asym)",
        "not a scheme name: 'fp16' (try int8, int4-g32, int4-g128-asym)",
    ]
    assert panel.summary.text().count("⚠") == 4 and "Input should" not in panel.summary.text()
    assert not panel.compare_button.isEnabled() and panel.compare() is None
    panel.schemes.setText("int8, int4-g32-asym")
    assert panel.check_schemes() == [] and panel.compare_button.isEnabled()
    assert panel.summary.text() == "Quantize a checkpoint to see its report."  # as it was before


def test_the_plots_follow_a_theme_switch(make_window):
    """Started in the dark theme then switched to light, the quantizer's plots stayed black
    (the plots kept the background of the theme they were made in)."""
    from studio.widgets import themed

    window = make_window(("quantizer", quantizer_hooks))
    panel = window.show_panel("quantizer:panel")
    with themed("dark"):
        assert all(p.backgroundBrush().color().lightness() < 100 for p in (panel.weights_plot, panel.error_plot))
    with themed("light"):
        assert all(p.backgroundBrush().color().lightness() > 200 for p in (panel.weights_plot, panel.error_plot))
