"""Run folders, the event log, settings and workspaces: nothing the user made is lost."""

import json
import os

import pytest

from studio.api import read_events
from studio.core.files import StudioFileError, atomic_write_text, read_json
from studio.core.runs import EventLog, RunStore
from studio.core.settings import Settings, load_settings, save_settings, update_settings
from studio.core.workspace import Workspace, WorkspaceError


def test_run_store_roundtrip(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create("demo.kind", {"a": 1})
    log = EventLog(run.events_path)
    log.write([{"t": 1, "kind": "metric", "name": "loss", "step": i, "value": 1 / (i + 1)} for i in range(5)])
    log.write([{"t": 2, "kind": "log", "level": "info", "text": "hello"}])
    log.close()
    run.update(status="succeeded")
    assert store.list()[0].id == run.id
    again = store.find(run.id[-4:])
    assert again.params() == {"a": 1}
    assert again.info()["status"] == "succeeded"
    steps, values = again.metrics()["loss"]
    assert steps == [0, 1, 2, 3, 4] and values[0] == 1.0
    assert again.last_logs() == ["hello"]


def test_truncated_last_line_is_skipped_and_appending_resumes_cleanly(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"kind":"metric","name":"loss","step":0,"value":1}\n{"kind":"met')  # a crash mid-write
    assert [e.step for e in read_events(path)] == [0]
    log = EventLog(path)
    log.write([{"kind": "metric", "name": "loss", "step": 1, "value": 0.5}])
    log.close()
    assert [e.step for e in read_events(path)] == [0, 1]


def test_interrupted_runs_are_marked(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create("demo", {})
    run.update(status="running", owner_pid=2**22 + 12345)  # no such process
    live = store.create("demo", {})
    live.update(status="running")  # owned by this process: still alive
    stale = store.mark_interrupted()
    assert [r.id for r in stale] == [run.id]
    assert run.info()["status"] == "interrupted"
    assert live.info()["status"] == "running"


def test_find_reports_ambiguous_and_missing(tmp_path):
    store = RunStore(tmp_path / "runs")
    store.create("demo", {})
    store.create("demo", {})
    with pytest.raises(StudioFileError, match="matches 2 runs"):
        store.find("demo")
    with pytest.raises(StudioFileError, match="no run matches"):
        store.find("nothing")


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.json"
    atomic_write_text(path, "old")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(StudioFileError, match="No space left"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]  # no temp file left behind


def test_malformed_json_is_reported_with_position(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": 1,,}')
    with pytest.raises(StudioFileError, match="not valid JSON \\(line 1"):
        read_json(bad)


def test_corrupt_settings_are_kept_when_read_and_set_aside_not_lost_when_written(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{ this is not json")
    settings, message = load_settings(path)
    assert settings == Settings()
    assert "could not be read" in message
    assert path.read_text() == "{ this is not json"  # reading changes nothing on disk
    update_settings(lambda s: setattr(s, "theme", "dark"), path)
    backups = list(tmp_path.glob("settings.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text() == "{ this is not json"
    assert load_settings(path)[0].theme == "dark"


def test_a_run_json_with_fields_of_the_wrong_type_is_listed_as_unreadable(tmp_path):
    from studio.core.runs import RunStore

    store = RunStore(tmp_path / "runs")
    run = store.create("k", {})
    (run.dir / "run.json").write_text('{"status": "succeeded", "started": "abc"}')
    assert run.info()["status"] == "unreadable" and "started is str" in run.info()["error"]
    (run.dir / "run.json").write_text("[" * 100_000)
    assert run.info()["status"] == "unreadable" and "nested too deeply" in run.info()["error"]
    run.events_path.write_bytes(b'\xff\xfe\x00\n{"kind": "log", "text": "ok"}\n')
    assert run.last_logs() == ["ok"]


def test_settings_roundtrip_and_recent_list(tmp_path):
    path = tmp_path / "settings.json"
    s = Settings(theme="dark")
    for i in range(12):
        s.remember_workspace(tmp_path / f"ws{i}")
    s.remember_workspace(tmp_path / "ws3")
    save_settings(s, path)
    loaded, message = load_settings(path)
    assert message is None and loaded.theme == "dark"
    assert loaded.recent_workspaces[0].endswith("ws3") and len(loaded.recent_workspaces) == 10
    assert json.loads(path.read_text())["theme"] == "dark"


def test_workspace_create_open_and_errors(tmp_path):
    ws = Workspace.create(tmp_path / "ws")
    assert all((ws.root / d).is_dir() for d in ("runs", "workflows", "data"))
    assert Workspace.open(tmp_path / "ws").root == ws.root
    with pytest.raises(WorkspaceError, match="does not exist"):
        Workspace.open(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(WorkspaceError, match="not a Tensor Studio workspace"):
        Workspace.open(tmp_path / "plain")
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkspaceError, match="a file with that name exists"):
        Workspace.create(tmp_path / "file")


def test_a_workspace_whose_subfolder_is_a_file_says_which_path_is_in_the_way(tmp_path):
    root = (tmp_path / "ws").resolve()
    root.mkdir()
    (root / "workflows").write_text("not a folder")  # was: "...: File exists", which path unsaid
    with pytest.raises(WorkspaceError) as err:
        Workspace.create(root)
    assert str(err.value) == f"cannot create a workspace at {root}: {root / 'workflows'} is a file, not a folder"
    (root / "workflows").unlink()
    (root / "workflows").symlink_to(root / "nowhere")
    with pytest.raises(WorkspaceError, match="workflows is a link to nothing"):
        Workspace.create(root)


def test_unwritable_workspace_is_reported(tmp_path, monkeypatch):
    ws = Workspace.create(tmp_path / "ws")
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(WorkspaceError, match="not writable"):
        ws.check_writable()


def test_secrets_never_in_settings_and_keyring_explained(monkeypatch):
    from studio.core import secrets

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert secrets.get_secret("openai") == ("sk-test", "environment")
    status = secrets.keyring_status()
    assert status.explanation  # either where keys go, or why there is no keyring
    if not status.available:
        with pytest.raises(secrets.SecretsUnavailable, match="environment variable"):
            secrets.set_secret("openai", "x")
    assert "sk-test" not in Settings().model_dump_json()


def test_curve_smoothing_is_debiased_skips_nan_and_exports_rows():
    import math

    from studio.core.curves import Series, short_label

    series = Series(alpha=0.5)
    series.extend([0, 1, 2], [4.0, math.nan, 2.0])
    series.extend(list(range(3, 600)), [1.0] * 597)  # grows past its first arrays (and is not sparse)
    x, smooth = series.arrays(True)
    assert list(x[:3]) == [0, 1, 2]
    assert smooth[0] == 4.0  # debiased: the first point is not pulled towards 0
    assert smooth[1] == pytest.approx(4.0 * 0.5 / (1 - 0.25))  # a NaN leaves the average as it was
    assert smooth[2] == pytest.approx((0.5 * 2.0 + 0.5 * 2.0) / (1 - 0.125))
    assert series.n == 600 and series.nearest(598.7)[0] == 599
    series.set_alpha(0.0)
    assert series.csv_rows()[0] == ("0", "4.0", "4.0") and series.csv_rows()[1][1] == "nan"
    assert short_label("20261122-045704-diagnostics.stream-3322") == "04:57:04 diagnostics.stream 3322"
