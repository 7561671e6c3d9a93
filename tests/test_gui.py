"""GUI tests (pytest-qt, offscreen): panels, live curves, docking, isolation, exit path."""

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import sample_plugins

from studio.api import Metric, RunStatus, Status

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, make_studio):
    from studio.qt.main_window import MainWindow

    studio = make_studio(("t", sample_plugins.good), ("bad", sample_plugins.panel_raises), discover=True)
    win = MainWindow(studio, quit_on_close=False, confirm_close=False)
    qtbot.addWidget(win)
    win.show()
    return win


def test_shell_panels_created_and_view_menu_lists_them(window):
    for panel_id in ("studio:jobs", "studio:metrics", "studio:log", "studio:plugins", "bad:ok"):
        assert panel_id in window.docks
    titles = [a.text() for a in window.view_menu.actions()]
    assert {"Jobs", "Metrics", "Log", "Plugins", "OK panel", "Bad panel"} <= set(titles)


def test_panel_factory_failure_is_isolated(window):
    assert "bad:panel" not in window.panels
    error_page = window.docks["bad:panel"].widget()
    assert "panel factory exploded" in error_page.toPlainText()
    record = window.studio.host.records["bad"]
    assert any(p.where == "panel bad:panel" for p in record.problems)
    plugins = window.panels["studio:plugins"]
    plugins.refresh()
    texts = [plugins.tree.topLevelItem(i).text(2) for i in range(plugins.tree.topLevelItemCount())]
    assert any("error" in t for t in texts)
    assert window.panels["bad:ok"].text() == "ok panel"


def test_metrics_panel_receives_live_metrics_from_a_process_job(window, qasync_loop, qtbot):
    metrics = window.panels["studio:metrics"]

    async def go():
        job = window.submit_job("t.count", {"n": 300})
        await window.studio.jobs.wait(job)
        return job

    job = qasync_loop.run_until_complete(go())
    assert job.status == "succeeded"
    qtbot.waitUntil(lambda: job.id in metrics.runs and metrics.runs[job.id].series["loss"].n == 300, timeout=5000)
    metrics.redraw()
    assert metrics.visible_sections() == [("t.count", ["loss"])]
    x, _y = metrics.runs[job.id].curves["loss"].getData()
    assert len(x) == 300 and x[-1] == 299
    assert metrics.runs[job.id].status == "succeeded"
    jobs_panel = window.panels["studio:jobs"]
    jobs_panel.refresh()
    assert jobs_panel.items[job.id].text(1) == "succeeded"
    # hover read-out and exports
    assert "step 150" in metrics.hover_text("loss", 150.2)


def test_events_reach_panels_in_the_order_they_were_emitted(window, qasync_loop):
    seen: list[dict] = []
    window.studio.bus.subscribe(lambda run_id, events: seen.extend(events))

    async def go():
        job = window.submit_job("t.interleaved", {"n": 4})
        await window.studio.jobs.wait(job)
        return job

    job = qasync_loop.run_until_complete(go())
    assert job.status == "succeeded"
    steps = [e.step for e in seen if isinstance(e, Metric)]
    assert steps == list(range(4 * 4097))
    assert isinstance(seen[-1], Status) and seen[-1].status == RunStatus.SUCCEEDED


def test_smoothing_log_scale_and_exports(window, qasync_loop, tmp_path):
    metrics = window.panels["studio:metrics"]
    metrics.handle_events("r1", [Metric("loss", i, float(10 - i % 2)) for i in range(30)])  # 30: smoothed
    metrics.smoothing.setValue(0.0)
    metrics.redraw()
    _, raw = metrics.runs["r1"].curves["loss"].getData()
    assert list(raw[:2]) == [10.0, 9.0]
    metrics.smoothing.setValue(0.9)
    _, smooth = metrics.runs["r1"].curves["loss"].getData()
    assert smooth[0] == pytest.approx(10.0) and 9.0 < smooth[-1] < 10.0
    metrics.log_y.setChecked(True)
    assert metrics.plot("loss").ctrl.logYCheck.isChecked()
    assert not metrics.plot("loss").ctrl.xGridCheck.isChecked()  # grid off by default: it is most of a repaint
    metrics.grid.setChecked(True)
    assert metrics.plot("loss").ctrl.xGridCheck.isChecked()
    assert metrics.save_state()["grid"] is True
    csv_path, png_path = tmp_path / "m.csv", tmp_path / "m.png"
    metrics.export_csv(csv_path)
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "run,metric,step,value,smoothed" and len(rows) == 31
    metrics.export_png(png_path)
    assert png_path.stat().st_size > 1000


def test_live_curves_stay_in_view_while_ranges_move_in_steps(window):
    from studio.qt.panels.ranges import step_above

    assert [step_above(v) for v in (1, 1.2, 7.6, 2000, 2001, 0.03)] == [1, 1.5, 10, 2000, 3000, 0.03]
    metrics = window.panels["studio:metrics"]
    metrics.smoothing.setValue(0.0)
    ranges = set()
    for step in range(10, 2010, 10):  # a loss falling from 4 towards 1.5, redrawn after every point
        metrics.handle_events("r1", [Metric("loss", step, 1.5 + 2.5 * math.exp(-step / 300))])
        metrics.redraw()
        (x_lo, x_hi), (y_lo, y_hi) = metrics.plot("loss").getViewBox().viewRange()
        value = 1.5 + 2.5 * math.exp(-step / 300)
        first = 1.5 + 2.5 * math.exp(-10 / 300)
        assert x_lo <= 10 and step <= x_hi and y_lo <= value <= y_hi and y_lo <= first <= y_hi
        ranges.add((round(x_lo, 6), round(x_hi, 6), round(y_lo, 6), round(y_hi, 6)))
    assert len(ranges) < 40  # not one per update: the axes are regenerated a few dozen times a run
    view = metrics.plot("loss").getViewBox()
    view.setXRange(500, 600, padding=0)
    view.sigRangeChangedManually.emit([True, False])  # what a drag or wheel zoom on x reports
    metrics.handle_events("r1", [Metric("loss", 2010, 1.5)])
    metrics.redraw()
    assert view.viewRange()[0] == pytest.approx([500, 600])  # the user's zoom is kept
    view.enableAutoRange()  # the plot's "A" button
    metrics.handle_events("r1", [Metric("loss", 2020, 1.5)])
    metrics.redraw()
    x_lo, x_hi = view.viewRange()[0]
    assert x_lo <= 10 and x_hi >= 2020  # following again


def test_reopen_past_run_by_dropping_its_folder(window, run_job):
    job = run_job(window.studio, "t.count", {"n": 40})
    window.studio.jobs.jobs.clear()
    metrics = window.panels["studio:metrics"]
    metrics.set_ticked(job.id, False)  # the user unticked it; opening it again (as the home page does) shows it
    assert window.open_path(job.run.dir) is True
    assert metrics.runs[job.id].series["loss"].n == 40
    assert job.id in metrics.ticks and metrics.ticks.focused == job.id
    assert metrics.runs[job.id].curves["loss"].isVisible()
    assert window.open_path(job.run.events_path) is True  # a file inside the run works too


def test_open_path_routes_to_plugin_and_reports_unclaimed(window, tmp_path):
    greet = tmp_path / "hello.greet"
    greet.write_text("hi")
    assert window.open_path(greet) is True
    assert window.panels["bad:ok"].opened == [greet]
    other = tmp_path / "data.xyz"
    other.write_text("?")
    assert window.open_path(other) is False
    assert "No plugin can open data.xyz" in window.statusBar().currentMessage()
    assert window.open_path(tmp_path / "missing.txt") is False


def test_dock_state_is_saved_and_restored(qtbot, make_studio):
    from PySide6.QtCore import Qt

    from studio.qt.main_window import MainWindow, layout_path

    studio = make_studio(("t", sample_plugins.good))
    first = MainWindow(studio, quit_on_close=False, confirm_close=False)
    qtbot.addWidget(first)
    first.show()
    first.docks["studio:log"].hide()
    first.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, first.docks["studio:jobs"])
    first.panels["studio:metrics"].smoothing.setValue(0.25)
    first.close()
    assert layout_path().exists()
    second = MainWindow(studio, quit_on_close=False, confirm_close=False)
    qtbot.addWidget(second)
    second.show()
    assert second.docks["studio:log"].isHidden()
    assert second.dockWidgetArea(second.docks["studio:jobs"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert second.panels["studio:metrics"].smoothing.value() == pytest.approx(0.25)
    layout_path().write_text("{broken")
    third = MainWindow(studio, quit_on_close=False, confirm_close=False)
    qtbot.addWidget(third)
    assert "could not be restored" in third.statusBar().currentMessage()


def test_run_job_dialog_builds_form_and_validates(window, qtbot):
    from studio.qt.dialogs import RunJobDialog

    dialog = RunJobDialog(window.studio.jobs, window, kind="diagnostics.stream")
    qtbot.addWidget(dialog)
    editors = dialog.form.editors
    assert {"steps", "rate", "busy", "fail_at_step"} <= set(editors)
    editors["steps"][0].setValue(123)
    editors["fail_at_step"][0].setText("not a number")
    dialog.accept()
    assert dialog.error.text() == "Fail at step: must be a whole number" and dialog.result() == 0
    editors["fail_at_step"][0].setText("")
    dialog.accept()
    assert dialog.kind_id == "diagnostics.stream" and dialog.params.steps == 123 and dialog.params.fail_at_step is None


def test_settings_dialog_explains_keyring_and_saves(window, qtbot):
    from studio.qt.dialogs import SettingsDialog

    dialog = SettingsDialog(window.studio, window)
    qtbot.addWidget(dialog)
    assert "keyring" in dialog.findChild(type(dialog.key_state), "keyring_note").text().lower()
    dialog.theme.setCurrentText("dark")
    dialog.accept()
    assert window.studio.settings.theme == "dark"


def test_menu_action_from_plugin(window):
    action = next(a for a in window._menus["Tools"].actions() if a.text() == "Say hello")
    action.trigger()
    assert window.statusBar().currentMessage() == "hello from a menu"


def test_pyside_does_not_underflow_none_refcount(qapp):
    """PySide6 6.12.0 on Python 3.11 lost a reference to None per void call and crashed the
    studio ("deallocating None"); pyproject excludes it. Guard against a regression."""
    from PySide6 import QtGui

    img = QtGui.QImage(10, 10, QtGui.QImage.Format.Format_ARGB32)
    painter = QtGui.QPainter(img)
    before = sys.getrefcount(None)
    for _ in range(2000):
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, False)
    painter.end()
    assert sys.getrefcount(None) >= before - 10


@pytest.mark.parametrize("mode", ["idle", "job", "prompts", "ctrl-c"])
def test_gui_exit_path_is_clean(mode, studio_home):
    """Closing the window, or Ctrl-C in the terminal (SIGINT to the whole process group, the
    job's worker too), ends the process cleanly, with the running job recorded as cancelled."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TENSOR_STUDIO_HOME": str(studio_home)}
    script = Path(__file__).with_name("gui_exit_script.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    children = []
    deadline = time.time() + 10
    while mode in ("job", "ctrl-c") and not children and time.time() < deadline:
        time.sleep(0.2)
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            break
    if mode == "ctrl-c":
        assert children, "the job's worker did not start"
        time.sleep(1.0)  # the job is streaming
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "EXIT 0" in out and "Fatal" not in err and "Traceback" not in err
    # The GUI has exited; its children must end with it (an orphaned worker would not).
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
    if mode in ("job", "prompts", "ctrl-c"):  # the run going when the window closed is recorded as cancelled
        run_id = out.split("JOB ")[1].split()[0]
        info = json.loads((studio_home / "data" / "workspace" / "runs" / run_id / "run.json").read_text())
        assert info["status"] == "cancelled"


def test_theme_switches_palette(qapp):
    from studio.qt.theme import apply_theme, is_dark

    apply_theme(qapp, "dark")
    assert is_dark()
    apply_theme(qapp, "light")
    assert not is_dark()


def test_job_tracker_follows_progress_result_cancel_and_refusal(window, qtbot, qasync_loop):
    from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton

    from studio.api import JobOutcome, Progress
    from studio.qt.facade import StudioPanelContext
    from studio.widgets import JobTracker

    ctx = StudioPanelContext("t", window)
    bar, cancel, label, start_button = QProgressBar(), QPushButton("Cancel"), QLabel(), QPushButton("Start")
    tracker = JobTracker(ctx, window, progress=bar, cancel=cancel, status=label, busy_disabled=(start_button,))
    assert not cancel.isEnabled() and start_button.isEnabled()
    outcomes: list[JobOutcome] = []
    progress: list[float] = []
    seen_busy: list[bool] = []

    async def run(kind, params, cancel_after=None, **kwargs):
        """Start as a button's slot would, inside the running loop; wait for the outcome."""
        count = len(outcomes)
        run_id = tracker.start(kind, params, title="Counting", on_done=outcomes.append, **kwargs)
        seen_busy.append(tracker.busy and cancel.isEnabled() and not start_button.isEnabled())
        if run_id is None:
            return None
        if cancel_after is not None:
            await asyncio.sleep(cancel_after)
            cancel.click()
        while len(outcomes) == count:
            await asyncio.sleep(0.02)
        return run_id

    run_id = qasync_loop.run_until_complete(
        run(
            "t.count_thread",
            {"n": 5, "delay": 0.02},
            on_event=lambda e: progress.append(e.done) if isinstance(e, Progress) else None,
        )
    )
    done = outcomes[0]
    assert seen_busy == [True]
    assert done.run_id == run_id and done.succeeded and done.result == {"n": 5}
    assert done.run_dir == window.studio.workspace.root / "runs" / run_id
    assert progress == [1, 2, 3, 4, 5]
    assert not tracker.busy and not cancel.isEnabled() and start_button.isEnabled()
    assert "Counting: done" in label.text()

    late: list[JobOutcome] = []
    ctx.when_finished(run_id, late.append)  # a run that already ended: called at once
    assert late and late[0].result == {"n": 5}

    qasync_loop.run_until_complete(run("t.count_thread", {"n": 1000, "delay": 0.02}, cancel_after=0.3))
    assert outcomes[1].status == RunStatus.CANCELLED and outcomes[1].result is None
    assert "cancelled" in label.text()

    assert qasync_loop.run_until_complete(run("t.count_thread", {"n": -1})) is None  # refused, and said why
    assert "could not start" in label.text() and "n" in label.text() and not tracker.busy
