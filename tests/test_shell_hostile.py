"""What a hostile tester found in the shell's new features (issue 17): the home page's run
list and Delete…, ``runs list`` / ``runs delete``, the Get started row, the Metrics run
list and the model picker, given folder names that are not UTF-8, copied or unreadable run
folders, stale owners, files that cannot be removed and plugin actions that misbehave.

Permission problems are simulated (``deny``): the suite may run as root, whom file modes
do not stop."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from studio.api import MenuAction, PluginInfo, hookimpl
from studio.core.files import StudioFileError
from studio.core.runs import DeleteIncomplete, Run, RunStore
from studio.testing import run_cli

BAD = os.fsdecode(b"exp\xff1")  # a folder name that is not UTF-8: Python keeps the byte as "\udcff"


def finished(store: RunStore, name: str | None = None, kind: str = "x.gen", metric: bool = False) -> Run:
    run = store.create(kind, {"n": 1})
    line = json.dumps({"t": 0, "kind": "metric", "name": "loss", "step": 1, "value": 0.5}) + "\n" if metric else ""
    (run.dir / "events.jsonl").write_text(line)
    (run.artifacts_dir / "model.bin").write_bytes(b"weights")
    run.update(status="succeeded", finished=time.time())
    time.sleep(0.002)  # distinct ids
    if name is None:
        return run
    os.rename(run.dir, store.root / name)
    return Run(store.root / name)


def deny(monkeypatch, inside: Path) -> None:
    """``os.stat`` of anything in ``inside`` fails as in a folder without search permission."""
    real_stat = os.stat
    prefix = str(inside) + os.sep

    def stat(path, *args, **kwargs):
        if isinstance(path, (str, os.PathLike)) and os.fspath(path).startswith(prefix):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)


def fail_unlink(monkeypatch, name: str) -> None:
    """Removing a file called ``name`` fails, as for an immutable file (chattr +i)."""
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        if os.fsdecode(path).endswith(name):
            raise PermissionError(errno.EPERM, "Operation not permitted", path)
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)


# ---------------------------------------------------------------- the run store


def test_a_run_is_renamed_aside_before_removal_so_a_half_delete_is_said_and_retried(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs")
    keep, a, b = finished(store), finished(store), finished(store)
    (a.artifacts_dir / "locked.txt").write_text("x")
    fail_unlink(monkeypatch, "locked.txt")
    with pytest.raises(DeleteIncomplete, match=r"locked.txt could not be removed \(Operation not permitted\)") as err:
        store.delete([a.id, b.id])
    assert err.value.deleted == [a.id, b.id]  # a is no longer a run (b went whole); nothing else is touched
    assert [r.id for r in store.list()] == [keep.id] and (keep.artifacts_dir / "model.bin").exists()
    [left] = store.leftovers()
    assert left.name.startswith(f".deleting-{a.id}-") and str(left) in str(err.value)
    assert (left / "artifacts" / "locked.txt").exists() and not (left / "run.json").exists()
    assert [p for p in store.remove_leftovers() if "locked.txt could not be removed" in p] != []
    monkeypatch.undo()  # the file can be removed now: the next delete's retry removes the rest
    assert store.remove_leftovers() == [] and os.listdir(store.root) == [keep.id]

    def no_rename(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "rename", no_rename)  # a read-only runs folder: the run stays whole
    with pytest.raises(DeleteIncomplete, match="Permission denied; nothing of it was removed") as err:
        store.delete([keep.id])
    assert err.value.deleted == [] and (keep.dir / "run.json").exists() and (keep.artifacts_dir / "model.bin").exists()


def test_an_owner_pid_taken_by_another_process_does_not_keep_a_run_active(tmp_path):
    """A crashed studio's pid reused, or a hand-edited pid 1: the run is interrupted, and
    can be deleted; the owner itself (same pid, same start time) still holds it."""
    import psutil

    store = RunStore(tmp_path / "runs")
    studio_like = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "tensor-studio"])
    other = subprocess.Popen(["sleep", "60"])
    try:
        started = psutil.Process(studio_like.pid).create_time()

        def running(pid: int, **info) -> Run:
            run = store.create("x.train", {})
            data = {**run.info(), "status": "running", "owner_pid": pid, **info}
            (run.dir / "run.json").write_text(json.dumps({k: v for k, v in data.items() if v is not None}))
            return run

        assert isinstance(store.create("x.y", {}).info()["owner_started"], float)  # recorded for every run
        reused = running(studio_like.pid, owner_started=started - 3600)  # its owner started an hour earlier
        owned = running(studio_like.pid, owner_started=started)
        # run.json from before owner_started: a process started after the run, or no studio
        late = running(studio_like.pid, owner_started=None, created=started - 3600)
        foreign = running(other.pid, owner_started=None, created=time.time() + 3600)
        legacy = running(studio_like.pid, owner_started=None, created=time.time() + 3600)
        free = [reused.id, late.id, foreign.id]
        assert [r.id for r in store.deletable(free)] == free
        for held in (owned, legacy):
            with pytest.raises(StudioFileError, match=f"run {held.id} is running: cancel it"):
                store.deletable([held.id])
        assert sorted(r.id for r in store.mark_interrupted()) == sorted(free)
        assert reused.info()["status"] == "interrupted" and owned.info()["status"] == "running"
    finally:
        for process in (studio_like, other):
            process.kill()
            process.wait()


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def ws(studio_home, tmp_path):
    from studio.core.workspace import Workspace

    return Workspace.create(tmp_path / "ws").root


def test_runs_list_names_runs_by_folder_and_an_unreadable_one_stops_nothing(ws, monkeypatch, capsys):
    store = RunStore(ws / "runs")
    original = finished(store)
    copy = Run(Path(shutil.copytree(original.dir, store.root / "my-copy")))  # its run.json says original's id
    locked = finished(store, "locked-run")
    deny(monkeypatch, locked.dir)  # no search permission on it
    capsys.readouterr()

    assert run_cli(["--workspace", ws, "runs", "list"]) == 0
    rows = [line.split()[:2] for line in capsys.readouterr().out.splitlines()[1:]]
    assert sorted(rows) == sorted([[original.id, "succeeded"], ["my-copy", "succeeded"], ["locked-run", "unreadable"]])
    assert run_cli(["--workspace", ws, "runs", "list", "--json"]) == 0
    listed = {i["id"]: i for i in json.loads(capsys.readouterr().out)}
    assert listed["my-copy"]["id_in_run_json"] == original.id and "id_in_run_json" not in listed[original.id]

    assert run_cli(["--workspace", ws, "runs", "show", "locked-run"]) == 0
    shown = capsys.readouterr().out
    assert "status   unreadable" in shown and "events   cannot read" in shown and "Permission denied" in shown
    assert run_cli(["--workspace", ws, "runs", "delete", "my-copy", "--yes"]) == 0  # the copy, not the original
    assert capsys.readouterr().out == "deleted my-copy\n"
    assert not copy.dir.exists() and (original.dir / "run.json").exists()


def test_runs_delete_says_a_half_delete_retries_it_and_takes_ctrl_d_as_no(ws, monkeypatch, capsys):
    store = RunStore(ws / "runs")
    a, b = finished(store), finished(store)
    (a.artifacts_dir / "locked.txt").write_text("x")
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)

    def ctrl_d(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", ctrl_d)
    assert run_cli(["--workspace", ws, "runs", "delete", a.id]) == 0
    assert capsys.readouterr().out.endswith("nothing deleted\n") and (a.dir / "run.json").exists()

    with monkeypatch.context() as patch:
        fail_unlink(patch, "locked.txt")
        assert run_cli(["--workspace", ws, "runs", "delete", a.id, "--yes"]) == 1
        out, err = capsys.readouterr()
        assert out == f"deleted {a.id}\n" and "locked.txt could not be removed (Operation not permitted)" in err
        assert run_cli(["--workspace", ws, "runs", "list"]) == 0
        assert "1 folder(s) of deleted runs could not be removed" in capsys.readouterr().err
    assert run_cli(["--workspace", ws, "runs", "delete", b.id, "--yes"]) == 0  # retries what was left
    assert capsys.readouterr().out == f"deleted {b.id}\n" and os.listdir(store.root) == []


def test_a_settings_file_that_cannot_be_read_is_said_not_set_aside(studio_home, monkeypatch, capsys):
    from studio.core.settings import Settings, load_settings, save_settings, settings_path, update_settings

    path = settings_path()
    save_settings(Settings(disabled_plugins=["kept"]), path)
    with monkeypatch.context() as patch:
        deny(patch, path.parent)  # as a folder without search permission
        settings, message = load_settings(path)  # a reader: defaults, said
        assert settings == Settings() and message is not None and "Permission denied" in message
        with pytest.raises(StudioFileError, match=r"cannot read the settings file .*: Permission denied"):
            update_settings(lambda s: None, path)  # a writer: stops, the file is not moved aside
        assert run_cli(["plugins", "disable", "trainer"]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith(f"error: cannot read the settings file {path}: Permission denied")
    assert load_settings(path)[0].disabled_plugins == ["kept"]
    assert [name for name in os.listdir(path.parent) if "corrupt" in name] == []


# ---------------------------------------------------------------- the GUI


@pytest.mark.gui
def test_home_page_deletes_and_opens_the_run_picked_when_its_name_is_not_utf8(make_window, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    window = make_window()
    home, store = window.home, window.studio.store
    bad, lookalike = finished(store, BAD), finished(store, "exp1")  # Qt would drop the bad byte: "exp1"
    home.refresh()
    rows = {home.runs.topLevelItem(i).text(3): home.runs.topLevelItem(i) for i in range(home.runs.topLevelItemCount())}
    assert {"exp\\xff1", "exp1"} <= set(rows)  # shown escaped

    opened: list[Path] = []
    monkeypatch.setattr(window, "open_path", opened.append)
    home.runs.itemActivated.emit(rows["exp\\xff1"], 0)
    assert opened == [bad.dir]

    asked: list[str] = []

    def question(parent, title, text, *args):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    rows["exp\\xff1"].setSelected(True)
    assert home.selected_ids() == [BAD]
    home.delete_selected()
    assert "exp\\xff1" in asked[0]
    assert not bad.dir.exists() and (lookalike.artifacts_dir / "model.bin").exists()
    assert "Deleted 1 run" in window.statusBar().currentMessage()


def test_metrics_panel_lists_a_workspace_with_a_run_folder_that_is_not_utf8(qtbot, tmp_path):
    from studio.api import Folders
    from studio.qt.panels.metrics import MetricsPanel

    store = RunStore(tmp_path / "runs")
    good, bad = finished(store, metric=True), finished(store, BAD, metric=True)
    ctx = SimpleNamespace(folders=Folders(tmp_path), show_message=lambda *a: None)
    panel = MetricsPanel(ctx)
    qtbot.addWidget(panel)
    panel.list_workspace_runs()  # raised UnicodeEncodeError
    assert good.id in panel.runs and BAD not in panel.runs  # its row could not tell it from "exp1"
    panel.open_path(bad.dir)  # opened on purpose: shown
    assert BAD in panel.runs


def test_the_model_picker_lists_a_folder_that_is_not_utf8_but_never_picks_another(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from studio.api import Folders, ModelEntry
    from studio.widgets import ModelPicker

    def entry(ref: str, age: float) -> ModelEntry:
        return ModelEntry(ref, f"model {ref}", "trained run", tmp_path / ref, 10, time.time() - age)

    entries = [entry(os.fsdecode(b"bad\xffname"), 0), entry("badname", 60)]
    picker = ModelPicker(folders=Folders(tmp_path), lister=lambda folders: entries, prefix="studio/")
    qtbot.addWidget(picker)
    first = picker.model.item(0, 0)
    assert first.text() == "studio/bad\\xffname" and first.flags() == Qt.ItemFlag.NoItemFlags
    assert "not UTF-8" in first.toolTip()
    picker.combo.activated.emit(0)
    assert picker.value() == ""  # not "studio/badname", another model
    picker.combo.activated.emit(1)
    assert picker.value() == "studio/badname"


CALLS: list[str] = []


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str() of this exception raises")


def _exit(ctx) -> None:
    CALLS.append("exit")
    raise SystemExit(3)


def _unprintable(ctx) -> None:
    CALLS.append("unprintable")
    raise Unprintable()


HOSTILE = SimpleNamespace(
    studio_plugin_info=hookimpl(lambda: PluginInfo(name="Hostile", version="1.0")),
    studio_commands=hookimpl(
        lambda: [
            MenuAction("hostile.long", "L" * 3000, lambda ctx: CALLS.append("long"), home=True),
            MenuAction("hostile.amp", "Save & share", lambda ctx: CALLS.append("amp"), home=True),
            MenuAction("hostile.empty", "", lambda ctx: CALLS.append("empty"), home=True),
            MenuAction("hostile.unprintable", "Unprintable", _unprintable, home=True),
            MenuAction("hostile.exit", "Exit", _exit, home=True),
        ]
    ),
)


@pytest.mark.gui
def test_get_started_buttons_survive_hostile_titles_and_actions(make_window):
    CALLS.clear()
    window = make_window(("hostile", HOSTILE))
    home = window.home
    long, amp, empty, unprintable, exit_ = home.get_started
    assert long.toolTip() == "L" * 3000 and long.sizeHint().width() < 400  # elided
    assert home.minimumSizeHint().width() < 1000  # was 20000 px
    assert amp.text() == "Save && share"  # Qt shows "Save & share", not a mnemonic
    assert empty.text() == "hostile.empty"
    menu_texts = {a.text() for a in window.findChildren(type(window.home_actions[0]))}
    assert "Save && share" in menu_texts and "hostile.empty" in menu_texts
    for button in (long, amp, empty):
        button.click()
    assert CALLS == ["long", "amp", "empty"]
    from PySide6.QtWidgets import QPushButton

    from studio.qt.help import GettingStartedDialog  # Help → Getting started offers the same buttons

    offered = [b for b in GettingStartedDialog(window).findChildren(QPushButton) if b.toolTip()]
    assert [b.toolTip() for b in offered[:3]] == ["L" * 3000, "Save & share", "hostile.empty"]
    assert offered[0].sizeHint().width() < 400 and offered[1].text() == "Save && share"

    unprintable.click()
    assert window.statusBar().currentMessage() == "Unprintable failed: Unprintable"
    problems = window.studio.host.records["hostile"].problems
    assert [p.message for p in problems] == ["Unprintable: (its message could not be read)"]
    exit_.click()  # SystemExit: said, and the studio keeps running (this test too)
    assert window.statusBar().currentMessage() == "Exit failed: SystemExit: 3" and window.isVisible()
    assert CALLS[-2:] == ["unprintable", "exit"]
