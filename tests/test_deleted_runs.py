"""Runs deleted from the home page leave every panel (issue 17): the window tells each
``Panel`` (``runs_deleted``); the Jobs panel drops the finished jobs' rows."""

from __future__ import annotations

from types import SimpleNamespace

from studio.api import Panel, RunStatus


def test_the_window_tells_every_panel_and_one_that_fails_does_not_stop_the_others():
    from studio.qt.main_window import MainWindow

    told: list[tuple[str, list[str]]] = []

    class Listening(Panel):
        def __init__(self, name: str, fail: bool = False):
            self.name, self.fail = name, fail

        def runs_deleted(self, run_ids: list[str]) -> None:
            told.append((self.name, run_ids))
            if self.fail:
                raise RuntimeError("boom")

    panels = [("a", Listening("a", fail=True)), ("b", Listening("b")), ("c", Panel())]
    window = SimpleNamespace(_behaving_panels=lambda: panels)
    MainWindow.runs_deleted(window, ["r1", "r2"])  # type: ignore[arg-type]
    assert told == [("a", ["r1", "r2"]), ("b", ["r1", "r2"])]
    MainWindow.runs_deleted(window, [])  # type: ignore[arg-type]
    assert len(told) == 2


def _job(title: str, status: RunStatus, active: bool) -> SimpleNamespace:
    return SimpleNamespace(
        kind=SimpleNamespace(title=title),
        status=status,
        error=None,
        elapsed=1.0,
        fraction=None if active else 1.0,
        progress_message="",
        active=active,
        cancel_requested=False,
        run=SimpleNamespace(events=list),
    )


def test_the_jobs_panel_drops_the_finished_jobs_of_deleted_runs(qapp):
    from studio.qt.panels.jobs import JobsPanel

    jobs = {
        "done": _job("Train", RunStatus.SUCCEEDED, active=False),
        "failed": _job("Train", RunStatus.FAILED, active=False),
        "running": _job("Train", RunStatus.RUNNING, active=True),
    }
    ctx = SimpleNamespace(_window=None, _studio=SimpleNamespace(jobs=SimpleNamespace(jobs=jobs)))
    panel = JobsPanel(ctx)
    try:
        jobs["done"].progress_message = jobs["running"].progress_message = "step 400/400 · loss 2.17"
        panel.refresh()
        panel.select("done")
        assert panel.tree.topLevelItemCount() == 3
        # an ended job's bar says how it ended, a running one where it is
        assert [panel.bars[i].format() for i in ("done", "failed", "running")] == [
            "done",
            "failed",
            "step 400/400 · loss 2.17",
        ]
        panel.runs_deleted(["done", "running", "unknown"])
        panel.refresh()  # the timer's refresh does not bring the row back
        items = [panel.tree.topLevelItem(i) for i in range(panel.tree.topLevelItemCount())]
        rows = {item.text(4) for item in items if item is not None}
        assert rows == {"failed", "running"}  # an active job's row stays
        assert panel._selected_id() != "done"
    finally:
        panel.timer.stop()
