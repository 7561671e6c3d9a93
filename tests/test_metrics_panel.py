"""The Metrics panel shows runs as TensorBoard and W&B do (issue 17): the newest run in focus,
older runs listed but unticked, plots grouped by job kind with a minimum height in a scroll
area, the raw curve faint behind the smoothed one, a lone point as a marker. The choice of
runs and plots is Qt-free (studio.core.curves) and tested first without widgets."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from studio.api import Folders, Metric, RunStatus, Status
from studio.core.curves import (
    OTHER_KIND,
    SPARSE_POINTS,
    RunTicks,
    Series,
    finite_bounds,
    logs_metrics,
    plot_sections,
    run_kind,
    run_name,
    run_started,
)

OLD = "20260101-100000-trainer.train-aaaa"
NEW = "20260101-110000-trainer.train-bbbb"
NEWER = "20260101-120000-trainer.train-cccc"
SELFTEST = "20260101-090000-diagnostics.stream-dddd"


# ---------------------------------------------------------------------- without widgets


def test_a_new_run_takes_the_focus_and_unticks_only_runs_ticked_automatically():
    ticks = RunTicks()
    ticks.focus(OLD)
    assert ticks.ticked == {OLD}
    ticks.focus(NEW)
    assert ticks.ticked == {NEW} and ticks.focused == NEW  # the older run is listed, unticked
    ticks.set_ticked(OLD, True)  # by hand: stays when the focus moves on
    ticks.focus(NEWER, keep=[SELFTEST])  # a run still active stays too
    assert ticks.ticked == {OLD, NEWER}
    ticks.focus(SELFTEST)
    assert ticks.ticked == {OLD, SELFTEST}
    ticks.set_ticked(SELFTEST, False)
    assert ticks.ticked == {OLD} and ticks.focused is None
    state = json.loads(json.dumps(ticks.state()))
    again = RunTicks()
    again.restore(state)
    assert again.ticked == {OLD} and again.by_hand == {OLD}
    again.listed(NEW, [OLD, NEW], newest_seen=NEW)  # nothing new since the last session: as it was
    assert again.ticked == {OLD}
    again.listed(NEWER, [OLD, NEW, NEWER], newest_seen=NEW)  # a run made since (on the command line): in focus
    assert again.ticked == {OLD, NEWER}
    again.restore({"ticked": "not a list", "focused": 3})
    assert again.ticked == set() and again.focused is None


def test_plots_are_grouped_by_kind_from_the_ticked_runs_newest_first():
    sections = plot_sections(
        [("quantizer.quantize", ["error/mean"]), ("trainer.train", ["val/loss", "train/loss"]), ("", ["x"])]
    )
    assert sections == [
        ("quantizer.quantize", ["error/mean"]),
        ("trainer.train", ["train/loss", "val/loss"]),
        (OTHER_KIND, ["x"]),
    ]
    assert plot_sections([("trainer.train", [])]) == []


def test_the_loss_comes_first_then_val_metrics_then_the_rest_by_name():
    names = ["tokens_per_s", "grad_norm", "val/perplexity", "lr", "val/loss", "train/loss", "val/accuracy"]
    (section,) = plot_sections([("trainer.train", names)])
    assert section[1] == [
        "train/loss",
        "val/loss",
        "val/accuracy",
        "val/perplexity",
        "grad_norm",
        "lr",
        "tokens_per_s",
    ]


def test_a_sparse_series_is_not_smoothed():
    values = [3.1, 2.6, 2.35, 2.2078]  # four validation losses: an EMA of 0.6 ends near 2.33
    sparse = Series(alpha=0.6)
    sparse.extend([100.0, 200.0, 300.0, 400.0], values)
    assert sparse.sparse
    _, drawn = sparse.arrays(True)
    assert drawn[-1] == pytest.approx(2.2078)  # what the run reports
    assert sparse.nearest(390.0) == pytest.approx((400.0, 2.2078))  # the hover read-out too
    assert float(sparse.csv_rows()[-1][2]) == pytest.approx(2.2078)
    dense = Series(alpha=0.6)
    dense.extend(list(range(SPARSE_POINTS)), [float(i % 2) for i in range(SPARSE_POINTS)])
    assert not dense.sparse
    _, smooth = dense.arrays(True)
    assert 0.2 < smooth[-1] < 0.8  # a long curve is still smoothed


def test_run_ids_bounds_and_metric_logs(tmp_path):
    assert run_kind(NEW) == "trainer.train" and run_kind("r1") == ""
    assert run_kind("20261122-045704-my-kind-3322") == "my-kind"
    assert run_name(NEW) == "bbbb" and run_name("r1") == "r1"
    assert run_started(NEW)[1] == "Jan 01 11:00" and run_started("r1") == (0.0, "")
    assert run_started(OLD)[0] < run_started(NEW)[0]
    assert finite_bounds([np.array([3.0, math.nan, -1.0]), np.array([])]) == (-1.0, 3.0)
    assert finite_bounds([np.array([math.nan])]) is None
    log = tmp_path / "events.jsonl"
    log.write_bytes(b'{"kind":"log","text":"x"}\n' * 50 + b'{"t":1,"kind":"metric","name":"a","step":0,"value":1}\n')
    assert logs_metrics(log, chunk=64)  # found across chunk borders too
    assert logs_metrics(log, chunk=64, limit=256)  # in the last part of a long log
    log.write_bytes(log.read_bytes() + b'{"kind":"log","text":"x"}\n' * 50)
    assert not logs_metrics(log, chunk=64, limit=256)  # in neither end of a long log: not looked for
    log.write_bytes(b'{"kind": "metric"}\n' + b'{"kind":"log","text":"x"}\n' * 50)
    assert logs_metrics(log, chunk=64, limit=256)
    log.write_bytes(b'{"kind":"log","text":"x"}\n')
    assert not logs_metrics(log) and not logs_metrics(tmp_path / "missing.jsonl")


# ---------------------------------------------------------------------- the panel


class Ctx:
    def __init__(self, workspace):
        self.folders = Folders(workspace)
        self.messages: list[tuple[str, str]] = []

    def show_message(self, text: str, level: str = "info") -> None:
        self.messages.append((text, level))


def write_run(workspace, run_id: str, metrics: dict[str, int], status: str = "succeeded") -> None:
    folder = workspace / "runs" / run_id
    folder.mkdir(parents=True)
    kind = run_kind(run_id)
    created = run_started(run_id)[0]
    (folder / "run.json").write_text(json.dumps({"id": run_id, "kind": kind, "status": status, "created": created}))
    lines = [
        json.dumps({"t": 0, "kind": "metric", "name": name, "step": step, "value": 1.0 / (step + 1)})
        for name, steps in metrics.items()
        for step in range(steps)
    ]
    (folder / "events.jsonl").write_text("".join(line + "\n" for line in lines))


@pytest.fixture
def panel(qtbot, tmp_path):
    from studio.qt.panels.metrics import MetricsPanel

    (tmp_path / "runs").mkdir()

    def make(size=(900, 420), restore=None):
        widget = MetricsPanel(Ctx(tmp_path))
        qtbot.addWidget(widget)
        if restore is not None:
            widget.restore_state(restore)  # as the window does, before the runs are listed
        widget.resize(*size)
        widget.show()
        widget.list_workspace_runs()
        return widget

    return make


def live(panel, run_id: str, metrics: dict[str, int], status: RunStatus | None = None) -> None:
    events = [Metric(name, step, 1.0 / (step + 1)) for name, steps in metrics.items() for step in range(steps)]
    panel.handle_events(run_id, [*events, *([Status(status)] if status else [])])
    panel.redraw()


@pytest.mark.gui
def test_nine_metrics_keep_a_minimum_height_and_the_panel_scrolls(panel, qtbot):
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    from studio.qt.panels.metrics import MIN_PLOT_HEIGHT

    metrics = panel()
    live(metrics, NEW, {f"m/{i}": 5 for i in range(9)})
    qtbot.waitUntil(lambda: metrics.plots_area.verticalScrollBar().maximum() > 0, timeout=2000)
    shown = [p.widget for p in metrics.plots.values() if p.widget.isVisible()]
    assert len(shown) == 9
    assert all(w.height() >= MIN_PLOT_HEIGHT for w in shown)
    assert metrics.content.height() > metrics.plots_area.viewport().height()
    first = next(p for p in metrics.plots.values() if p.widget.isVisible())
    view_range = first.item.getViewBox().viewRange()
    wheel = QWheelEvent(
        QPointF(20, 20), QPointF(20, 20), QPoint(), QPoint(0, -120), Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(first.widget.viewport(), wheel)
    assert metrics.plots_area.verticalScrollBar().value() > 0  # the wheel over a plot scrolls the panel
    assert first.item.getViewBox().viewRange() == view_range  # and does not zoom the plot
    assert metrics.minimumSizeHint().width() < 500  # the toolbar folds; it does not widen the dock
    metrics.resize(480, 700)  # a narrow dock: the run list goes above the plots, which keep the width
    assert metrics.split.orientation() == Qt.Orientation.Vertical
    qtbot.waitUntil(lambda: all(w.width() > 400 for w in shown), timeout=2000)  # one column


@pytest.mark.gui
def test_an_unticked_older_run_is_listed_not_drawn_and_does_not_stretch_the_x_axis(panel, tmp_path):
    write_run(tmp_path, SELFTEST, {"train/loss": 2000})
    write_run(tmp_path, OLD, {"train/loss": 2000})
    (tmp_path / "runs" / "20260101-103000-generate-eeee").mkdir()  # a run without metrics is not listed
    (tmp_path / "runs" / "20260101-103000-generate-eeee" / "run.json").write_text('{"kind": "generate"}')
    metrics = panel()
    assert list(metrics.runs) == [OLD, SELFTEST] and metrics.ticks.ticked == {OLD}  # the newest is in focus
    assert not metrics.runs[SELFTEST].loaded  # read when ticked, not before
    live(metrics, NEW, {"train/loss": 200}, status=RunStatus.RUNNING)
    assert metrics.ticks.ticked == {NEW}
    assert metrics.run_list.topLevelItem(0).text(3) == "bbbb"  # newest first
    assert not metrics.runs[OLD].curves["train/loss"].isVisible()
    x_hi = metrics.plot("train/loss").getViewBox().viewRange()[0][1]
    assert x_hi < 300  # a 200-step curve is not squeezed into the left tenth by the 2000-step run
    metrics.set_ticked(OLD, True)  # the user ticks it: drawn, and the axis follows it
    assert metrics.runs[OLD].curves["train/loss"].isVisible()
    assert metrics.plot("train/loss").getViewBox().viewRange()[0][1] >= 1999
    metrics.set_ticked(SELFTEST, True)  # another kind: its own section and plot
    assert metrics.visible_sections() == [("trainer.train", ["train/loss"]), ("diagnostics.stream", ["train/loss"])]
    assert metrics.plot("train/loss", "diagnostics.stream") is not metrics.plot("train/loss", "trainer.train")
    live(metrics, NEWER, {"train/loss": 10})  # a new run: the auto-ticked finished run goes, the running one stays
    assert metrics.ticks.ticked == {OLD, SELFTEST, NEW, NEWER}
    metrics.handle_events(NEW, [Status(RunStatus.SUCCEEDED)])
    live(metrics, "r2", {"train/loss": 3})
    assert metrics.ticks.ticked == {OLD, SELFTEST, "r2"}


@pytest.mark.gui
def test_ticks_are_remembered_across_restarts(panel, tmp_path):
    write_run(tmp_path, OLD, {"loss": 3})
    write_run(tmp_path, NEW, {"loss": 3})
    first = panel()
    assert first.ticks.ticked == {NEW}
    first.set_ticked(OLD, True)
    state = json.loads(json.dumps(first.save_state()))
    write_run(tmp_path, NEWER, {"loss": 3})
    second = panel(restore=state)  # NEWER was made while the studio was closed: it takes the focus
    assert second.ticks.ticked == {OLD, NEWER} and second.runs[OLD].visible and not second.runs[NEW].visible
    third = panel(restore=second.save_state())
    assert third.ticks.ticked == {OLD, NEWER}
    other = tmp_path / "other"  # another workspace: its runs replace these, its newest in focus
    write_run(other, SELFTEST, {"loss": 3})
    third.ctx.folders = Folders(other)
    third.workspace_changed(other)
    assert list(third.runs) == [SELFTEST] and third.ticks.ticked == {SELFTEST}


@pytest.mark.gui
def test_a_single_point_is_a_marker_and_the_raw_curve_is_faint_behind_the_smoothed(panel):
    from studio.qt.panels.metrics import background
    from studio.qt.theme import contrast_ratio

    metrics = panel()
    metrics.smoothing.setValue(0.6)
    live(metrics, NEW, {"val/loss": 1, "train/loss": 50})
    single = metrics.runs[NEW].curves["val/loss"]
    assert single.opts["symbol"] == "o" and single.isVisible()
    line = metrics.runs[NEW].curves["train/loss"]
    assert line.opts["symbol"] is None
    raw = metrics.runs[NEW].raw["train/loss"]
    assert raw.isVisible() and raw.zValue() < line.zValue()
    raw_pen, pen = raw.opts["pen"].color(), line.opts["pen"].color()
    assert raw_pen.rgb() == pen.rgb() and raw_pen.alpha() < 100 <= pen.alpha()
    assert contrast_ratio(pen, background()) >= 3.0  # readable on the plot background (WCAG graphics floor)
    _, raw_y = raw.getData()
    _, smooth_y = line.getData()
    assert raw_y[1] == pytest.approx(0.5) and smooth_y[1] != pytest.approx(0.5)
    live(metrics, NEW, {"val/loss": 2})  # a few points: drawn raw, markers and a line, not smoothed
    assert single.opts["symbol"] == "o" and not metrics.runs[NEW].raw["val/loss"].isVisible()
    _, sparse_y = single.getData()
    assert list(sparse_y) == pytest.approx([1.0, 1.0, 0.5])
    live(metrics, NEW, {"val/loss": 30})  # many points: a smoothed line
    assert single.opts["symbol"] is None and metrics.runs[NEW].raw["val/loss"].isVisible()
    metrics.smoothing.setValue(0.0)  # no smoothing: the raw curve is the line itself
    assert not raw.isVisible()


@pytest.mark.gui
def test_deleted_runs_leave_the_list_and_the_plots(panel, tmp_path):
    write_run(tmp_path, OLD, {"train/loss": 5, "lr": 5})
    write_run(tmp_path, NEW, {"train/loss": 5})
    metrics = panel()
    metrics.set_ticked(OLD, True)
    live(metrics, NEWER, {"train/loss": 5}, status=RunStatus.RUNNING)
    assert metrics.runs[OLD].visible and metrics.visible_sections() == [("trainer.train", ["train/loss", "lr"])]
    metrics.runs_deleted([OLD, NEW, NEWER, "never-listed"])  # an active run cannot be deleted: it stays
    assert list(metrics.runs) == [NEWER] and metrics.run_list.topLevelItemCount() == 1
    assert metrics.ticks.ticked == {NEWER}
    assert metrics.visible_sections() == [("trainer.train", ["train/loss"])]
    assert not metrics.plots[("trainer.train", "lr")].widget.isVisible()
    assert metrics.hover_text("train/loss", 1.0).count("step") == 1  # NEWER's only


@pytest.mark.gui
def test_when_the_run_in_view_is_deleted_the_newest_left_is_drawn(panel, tmp_path):
    write_run(tmp_path, OLD, {"loss": 3})
    write_run(tmp_path, NEW, {"loss": 3})
    metrics = panel()
    assert metrics.ticks.ticked == {NEW}
    metrics.hover.setText(f"loss — {NEW}: step 2 = 0.3")
    metrics.runs_deleted([NEW])
    assert metrics.ticks.ticked == {OLD} and metrics.runs[OLD].visible
    assert metrics.hover.text() == ""  # no read-out of a deleted run


def _same_colour_pair() -> tuple[str, str]:
    """An older and a newer run id whose own colours are the same."""
    import zlib

    from studio.qt.panels.metrics import COLORS

    ids = [f"20260101-10{minute:02d}00-trainer.train-abcd" for minute in range(30)]
    older = ids[0]
    newer = next(i for i in ids[1:] if zlib.crc32(i.encode()) % COLORS == zlib.crc32(older.encode()) % COLORS)
    return older, newer


@pytest.mark.gui
def test_a_run_keeps_its_colour_across_restarts(panel, tmp_path):
    older, newer = _same_colour_pair()
    write_run(tmp_path, older, {"train/loss": 3})
    first = panel()
    first.set_ticked(older, False)
    first.set_ticked(older, True)  # by hand: stays drawn beside the next run
    live(first, newer, {"train/loss": 3})  # the same colour as its own: the new run gets another
    colours = {r: first.runs[r].color.name() for r in (older, newer)}
    assert colours[older] != colours[newer]
    write_run(tmp_path, newer, {"train/loss": 3})
    second = panel(restore=json.loads(json.dumps(first.save_state())))
    assert second.runs[older].visible and second.runs[newer].visible
    assert {r: second.runs[r].color.name() for r in (older, newer)} == colours  # not swapped
    third = panel()  # no state (a reset): each run's own colour, from its id
    assert third.runs[older].color.name() == colours[older]
