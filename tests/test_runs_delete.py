"""Cleaning up runs: RunStore.delete (only the runs picked, never an active one), the CLI's
``runs delete`` and the home page's filters and Delete (offscreen)."""

import os
import time

import pytest

from studio.core.files import StudioFileError
from studio.core.runs import RunStore
from studio.testing import run_cli


def finished(store: RunStore, kind: str, status: str = "succeeded"):
    run = store.create(kind, {"n": 1})
    (run.dir / "events.jsonl").write_text("")
    (run.artifacts_dir / "model.bin").write_bytes(b"weights")
    run.update(status=status, finished=time.time())
    time.sleep(0.002)  # distinct creation times
    return run


def folders(store: RunStore) -> dict[str, set[str]]:
    return {d.name: {p.name for p in d.rglob("*")} for d in store.root.iterdir()}


def test_delete_removes_only_the_runs_named(tmp_path):
    store = RunStore(tmp_path / "runs")
    keep, a, b = finished(store, "x.train"), finished(store, "x.gen"), finished(store, "x.gen", "failed")
    before = folders(store)
    assert store.delete([a.id, b.id, a.id]) == [a.id, b.id]
    after = folders(store)
    assert set(after) == {keep.id} and after[keep.id] == before[keep.id]


@pytest.mark.parametrize("bad", ["nope", "x.gen", "../runs", ".", "", "sub/dir"])
def test_an_id_that_names_no_run_deletes_nothing(tmp_path, bad):
    store = RunStore(tmp_path / "runs")
    good = finished(store, "x.gen")
    with pytest.raises(StudioFileError, match="no run"):
        store.delete([good.id, bad])  # a part of an id, a path: refused, as the good one is kept
    assert (good.dir / "run.json").exists()


def test_an_active_run_is_refused(tmp_path):
    store = RunStore(tmp_path / "runs")
    running = store.create("x.train", {})
    running.update(status="running", owner_pid=os.getpid())
    done = finished(store, "x.train")
    with pytest.raises(StudioFileError, match=f"run {running.id} is running: cancel it"):
        store.delete([done.id, running.id])
    with pytest.raises(StudioFileError, match=f"run {done.id} is"):
        store.delete([done.id], active=[done.id])  # one of the caller's unfinished jobs
    assert running.dir.exists() and done.dir.exists()
    stale = store.create("x.train", {})
    stale.update(status="running", owner_pid=2**22 + 12345)  # its studio is gone: not active
    assert store.delete([stale.id]) == [stale.id]


def test_a_linked_run_folder_loses_the_link_not_the_target(tmp_path):
    store = RunStore(tmp_path / "runs")
    elsewhere = RunStore(tmp_path / "elsewhere")
    target = finished(elsewhere, "x.gen")
    store.root.mkdir(parents=True, exist_ok=True)
    (store.root / target.id).symlink_to(target.dir)
    assert store.delete([target.id]) == [target.id]
    assert not (store.root / target.id).exists() and (target.dir / "run.json").exists()


def test_cli_runs_delete(studio_home, tmp_path, capsys, monkeypatch):
    from studio.core.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws").root
    store = RunStore(ws / "runs")
    a, b, keep = finished(store, "x.gen"), finished(store, "x.gen"), finished(store, "x.train")
    capsys.readouterr()

    assert run_cli(["--workspace", ws, "runs", "delete", a.id, "nope"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err and a.dir.exists()

    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert run_cli(["--workspace", ws, "runs", "delete", a.id]) == 2
    assert "needs --yes" in capsys.readouterr().err and a.dir.exists()

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt="": "n")
    assert run_cli(["--workspace", ws, "runs", "delete", a.id]) == 0
    assert "nothing deleted" in capsys.readouterr().out and a.dir.exists()

    assert run_cli(["--workspace", ws, "runs", "delete", a.id, b.id, "--yes"]) == 0
    assert sorted(capsys.readouterr().out.splitlines()) == sorted([f"deleted {a.id}", f"deleted {b.id}"])
    assert [r.id for r in store.list()] == [keep.id]


@pytest.mark.gui
def test_home_page_filters_runs_and_deletes_the_picked_ones(make_window, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    window = make_window()
    home, store = window.home, window.studio.store
    gen1, train, gen2 = finished(store, "x.gen"), finished(store, "x.train"), finished(store, "x.gen", "failed")
    home.refresh()

    def shown() -> set[str]:
        return {home.runs.topLevelItem(i).text(3) for i in range(home.runs.topLevelItemCount())}

    assert shown() == {gen2.id, train.id, gen1.id} and home.count.text() == "3 runs"
    home.kind_filter.setCurrentIndex(home.kind_filter.findData("x.gen"))
    assert shown() == {gen2.id, gen1.id} and home.count.text() == "2 of 3 runs"
    home.status_filter.setCurrentIndex(home.status_filter.findData("failed"))
    assert shown() == {gen2.id}
    home.status_filter.setCurrentIndex(0)

    asked: list[str] = []

    def question(parent, title, text, buttons, default):
        asked.append(text)
        return answer

    monkeypatch.setattr(QMessageBox, "question", question)
    for i in range(home.runs.topLevelItemCount()):
        home.runs.topLevelItem(i).setSelected(True)
    home.refresh()  # a job's status arrives: the selection stays
    assert set(home.selected_ids()) == {gen1.id, gen2.id} and home.delete_button.text() == "Delete 2…"

    answer = QMessageBox.StandardButton.Cancel
    home.delete_selected()
    assert "Delete 2 runs" in asked[0] and gen1.id in asked[0] and gen2.id in asked[0]
    assert len(store.list()) == 3

    told: list[list[str]] = []  # the other panels are told (they drop the runs: test_deleted_runs.py)
    monkeypatch.setattr(window, "runs_deleted", told.append)
    answer = QMessageBox.StandardButton.Yes
    home.delete_selected()
    assert [r.id for r in store.list()] == [train.id]  # only the picked runs
    assert [set(ids) for ids in told] == [{gen1.id, gen2.id}]
    assert shown() == set() and "Deleted 2 runs" in window.statusBar().currentMessage()

    home.kind_filter.setCurrentIndex(0)  # all kinds: the one run left, counted in the singular
    assert home.count.text() == "1 run"
    running = store.create("x.train", {})
    home.refresh()
    running.update(status="running", owner_pid=os.getpid())
    for i in range(home.runs.topLevelItemCount()):
        home.runs.topLevelItem(i).setSelected(True)
    asked.clear()
    home.delete_selected()
    assert asked == [] and "Nothing deleted" in window.statusBar().currentMessage()
    assert {r.id for r in store.list()} == {train.id, running.id}
