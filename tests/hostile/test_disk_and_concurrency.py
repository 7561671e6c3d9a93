"""A full disk and two commands at once. On a full disk, reading commands still work and
writing ones fail with one line, leaving nothing half-made; settings changed by two
processes at once keep both changes, and reading commands never rewrite them."""

from __future__ import annotations

import errno
import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from studio.core.files import StudioFileError
from studio.core.settings import Settings, load_settings, update_settings

from .conftest import Cli, expect_all_refused, expect_ok

READING = (("runs", "list"), ("runs", "list", "--json"), ("plugins", "list"), ("jobs", "kinds"), ("doctor",))


def stale_running_run(workspace: Path) -> str:
    """A run whose studio died while it ran (its run.json still says running)."""
    run_id = "20260101-000000-diagnostics.stream-dead"
    folder = workspace / "runs" / run_id
    folder.mkdir(parents=True)
    (folder / "params.json").write_text("{}")
    (folder / "run.json").write_text(
        json.dumps(
            {
                "id": run_id,
                "kind": "diagnostics.stream",
                "status": "running",
                "created": 1.0,
                "owner_pid": 2**22 + 12345,
            }
        )
    )
    return run_id


@pytest.fixture
def full_disk(small_disk):
    """A 12 MiB tmpfs to hold the studio home and workspace, then be filled."""
    return small_disk(12)


def fill(disk: Path) -> None:
    """Write until the disk is full, in big blocks then small ones."""
    with open(disk / "filler", "wb", buffering=0) as fh:
        for block in (1 << 20, 4096, 512):
            try:
                while True:
                    fh.write(b"\0" * block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC


def test_on_a_full_disk_reading_commands_work_and_writing_ones_say_why(full_disk):
    from studio.core.workspace import Workspace

    workspace = Workspace.create(full_disk / "workspace").root
    run_id = stale_running_run(workspace)
    cli = Cli(full_disk / "home", workspace)
    expect_ok(cli("plugins", "list"))  # the home exists before the disk fills
    settings = full_disk / "home" / "config" / "settings.json"
    fill(full_disk)
    *reading, shown = cli.batch(*READING, ("runs", "show", "dead"))
    for result in reading:
        expect_ok(result)
    assert run_id in expect_ok(shown).out
    before = sorted(p.name for p in (workspace / "runs").iterdir())
    expect_all_refused(
        cli,
        (("jobs", "run", "diagnostics.stream", "--set", "steps=3"), "no space left"),
        (("plugins", "disable", "diagnostics"), "no space left"),
    )
    assert sorted(p.name for p in (workspace / "runs").iterdir()) == before  # nothing half-made
    assert not settings.exists() or "diagnostics" not in settings.read_text()
    # space again: the stale run is marked at the next start, and jobs run
    (full_disk / "filler").unlink()
    expect_ok(cli("runs", "list"))
    assert json.loads((workspace / "runs" / run_id / "run.json").read_text())["status"] == "interrupted"
    expect_ok(cli("jobs", "run", "diagnostics.stream", "--set", "steps=3", "--set", "rate=0"))


def test_marking_interrupted_runs_is_best_effort(make_studio, tmp_path, monkeypatch):
    """Without mount rights too: a run.json that cannot be written does not stop start-up."""
    import studio.core.runs as runs

    workspace = tmp_path / "ws"
    from studio.core.workspace import Workspace

    Workspace.create(workspace)
    stale_running_run(workspace)

    def disk_full(*_a, **_k):
        raise StudioFileError("cannot write run.json: No space left on device")

    monkeypatch.setattr(runs, "write_json", disk_full)
    studio = make_studio(workspace=workspace)
    assert studio.store.list()[0].info()["status"] == "running"  # left for the next start


def test_two_processes_changing_settings_at_once_keep_both_changes(cli):
    for attempt in range(3):
        procs = [
            cli.popen("plugins", "disable", plugin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for plugin in ("diagnostics", "quantizer")
        ]
        assert all(p.wait(60) == 0 for p in procs)
        disabled = json.loads((cli.home / "config" / "settings.json").read_text())["disabled_plugins"]
        assert {"diagnostics", "quantizer"} <= set(disabled), (attempt, disabled)
        procs = [
            cli.popen("plugins", "enable", plugin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for plugin in ("diagnostics", "quantizer")
        ]
        assert all(p.wait(60) == 0 for p in procs)
        assert json.loads((cli.home / "config" / "settings.json").read_text())["disabled_plugins"] == []


def test_settings_updates_under_the_lock_lose_nothing(tmp_path):
    path = tmp_path / "settings.json"
    names = [f"plugin-{i}" for i in range(40)]

    def disable(name: str) -> None:
        update_settings(lambda s: setattr(s, "disabled_plugins", sorted({*s.disabled_plugins, name})), path)

    threads = [threading.Thread(target=disable, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(load_settings(path)[0].disabled_plugins) == sorted(names)


def test_reading_commands_never_rewrite_settings(cli):
    expect_ok(cli("plugins", "disable", "quantizer"))
    settings = cli.home / "config" / "settings.json"
    stamp = (settings.stat().st_ino, settings.stat().st_mtime_ns, settings.read_bytes())
    time.sleep(0.02)
    for result in cli.batch(*READING):
        expect_ok(result)
    assert (settings.stat().st_ino, settings.stat().st_mtime_ns, settings.read_bytes()) == stamp


def test_the_gui_saving_its_settings_keeps_a_plugin_disabled_meanwhile(make_studio):
    """The studio open, the CLI disables a plugin, the studio closes: both changes stay."""
    studio = make_studio()
    studio.settings.theme = "dark"
    update_settings(lambda s: setattr(s, "disabled_plugins", ["rag"]))  # another process
    studio.save_settings()
    on_disk, _ = load_settings()
    assert on_disk.theme == "dark" and on_disk.disabled_plugins == ["rag"]
    assert isinstance(on_disk, Settings)


def test_no_run_folder_is_left_when_its_files_cannot_be_written(tmp_path, monkeypatch):
    import studio.core.runs as runs

    store = runs.RunStore(tmp_path / "runs")
    written = []
    real_write_json = runs.write_json

    def disk_fills_after_params(path, data):
        if written:
            raise StudioFileError(f"cannot write {path}: No space left on device")
        written.append(path)
        real_write_json(path, data)

    monkeypatch.setattr(runs, "write_json", disk_fills_after_params)
    with pytest.raises(StudioFileError):
        store.create("k", {"a": 1})
    assert written and not any((tmp_path / "runs").iterdir())
