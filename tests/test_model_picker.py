"""Naming a model (issue 17): ``studio.api.list_models`` collects every enabled plugin's model
sources (one that raises is skipped), ``resolve_model`` maps a run id to its run folder and
lets the sources say which model folder it stands for, and ``studio.widgets.ModelPicker``
lists the models, remembers the last choice and puts a provider prefix before a pick."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import pytest

from studio.api import Folders, ModelEntry, ModelNotFound, ModelSource, hookimpl, list_models, resolve_model

HERE = __name__  # the sources name their functions by "module:function", as a plugin does


def list_runs(folders: Folders) -> list[ModelEntry]:
    """Every run folder holding a ``weights.bin``, named by its run id."""
    if not folders.runs.is_dir():
        return []
    return [
        ModelEntry(
            ref=run.name,
            name=f"model of {run.name}",
            kind="test model",
            path=run / "model",
            size_bytes=(run / "model" / "weights.bin").stat().st_size,
            modified=(run / "model" / "weights.bin").stat().st_mtime,
            detail="made by the test",
        )
        for run in sorted(folders.runs.iterdir())
        if (run / "model" / "weights.bin").exists()
    ]


def resolve_run(folder: Path) -> Path | None:
    return folder / "model" if (folder / "model").is_dir() else None


def broken_list(folders: Folders) -> list[ModelEntry]:
    raise RuntimeError("this source is broken")


def plugin(name: str, source: ModelSource) -> ModuleType:
    module = ModuleType(name)

    @hookimpl
    def studio_model_sources():
        return [source]

    module.studio_model_sources = studio_model_sources  # type: ignore[attr-defined]
    return module


@pytest.fixture
def sources(studio_home):
    """The process's plugins: a good test source and a broken one (studio_home resets them after)."""
    from studio.core.plugins import install_process_host, new_host

    host = new_host(discover=False)
    good = ModelSource("test.runs", "Test runs", f"{HERE}:list_runs", f"{HERE}:resolve_run")
    host.register(plugin("good", good), "good")
    host.register(plugin("bad", ModelSource("test.broken", "Broken", f"{HERE}:broken_list")), "bad")
    install_process_host(host)
    return host


def make_run(folders: Folders, run_id: str, size: int, modified: float) -> Path:
    weights = folders.run_dir(run_id) / "model" / "weights.bin"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"\0" * size)
    os.utime(weights, (modified, modified))
    return weights.parent


def test_listing_is_newest_first_and_a_broken_source_is_skipped(sources, tmp_path, caplog):
    folders = Folders(tmp_path / "ws")
    make_run(folders, "20260101-000000-a", 10, 1000.0)
    make_run(folders, "20260102-000000-b", 20, 2000.0)
    entries = list_models(folders)
    assert [e.ref for e in entries] == ["20260102-000000-b", "20260101-000000-a"]
    assert entries[0].size_bytes == 20 and entries[0].kind == "test model"
    assert "test.broken" in caplog.text and "this source is broken" in caplog.text


def test_a_run_id_resolves_through_the_sources_and_an_unknown_one_says_where_it_looked(sources, tmp_path):
    folders = Folders(tmp_path / "ws")
    model = make_run(folders, "20260101-000000-trainer.train-abcd", 1, 1.0)
    assert resolve_model("20260101-000000-trainer.train-abcd", folders) == model
    assert resolve_model(str(model.parent), folders) == model  # the run folder, given as a path
    assert resolve_model(str(model), folders) == model  # a model folder stands for itself
    with pytest.raises(ModelNotFound, match=r"no run '20260101-000000-trainer.train-abce' in the workspace .*ws") as e:
        resolve_model("20260101-000000-trainer.train-abce", folders)
    assert str(e.value).endswith("did you mean 20260101-000000-trainer.train-abcd?")
    with pytest.raises(ModelNotFound, match="nowhere: no such folder"):
        resolve_model(str(tmp_path / "nowhere"), folders)
    with pytest.raises(ModelNotFound, match="no model given"):
        resolve_model("  ", folders)


class FakeContext:
    """What the picker uses of a PanelContext: the workspace's folders and the plugin's settings."""

    def __init__(self, workspace: Path):
        self.folders = Folders(workspace)
        self.saved: dict = {}

    def settings(self) -> dict:
        return dict(self.saved)

    def save_settings(self, values: dict) -> None:
        self.saved = dict(values)


def test_the_picker_lists_the_models_and_remembers_the_pick_with_its_prefix(sources, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from studio.qt.model_picker import COLUMNS, human_size
    from studio.widgets import ModelPicker

    ctx: Any = FakeContext(tmp_path / "ws")
    make_run(ctx.folders, "20260101-000000-a", 1500, time.time() - 60)
    picker = ModelPicker(ctx, "run", prefix="studio/")
    qtbot.addWidget(picker)
    assert picker.value() == "" and picker.model.rowCount() == 1
    row = [picker.model.item(0, c).text() for c in range(len(COLUMNS))]
    assert row[:3] == ["studio/20260101-000000-a", "model of 20260101-000000-a", "test model"]
    assert row[3] == "1.5 kB" and row[4].startswith(time.strftime("%Y-"))

    make_run(ctx.folders, "20260102-000000-b", 10, time.time())  # a run that just finished
    picker.combo.showPopup()  # the list is read again as it opens: the new run is first
    picker.combo.hidePopup()
    assert [e.ref for e in picker.entries] == ["20260102-000000-b", "20260101-000000-a"]
    chosen: list[str] = []
    picker.chosen.connect(chosen.append)
    picker.combo.activated.emit(1)  # picked from the list
    assert picker.value() == "studio/20260101-000000-a" and chosen == ["studio/20260101-000000-a"]
    entry = picker.entry()
    assert entry is not None and entry.ref == "20260101-000000-a"
    assert ctx.saved == {"model_picker": {"run": "studio/20260101-000000-a"}}

    again = ModelPicker(ctx, "run", prefix="studio/")  # the next form starts with the last choice
    qtbot.addWidget(again)
    assert again.value() == "studio/20260101-000000-a"
    assert ModelPicker(ctx, "other").value() == ""  # per key

    again.set_value("openai/gpt-4o-mini")  # typed: remembered when the panel uses it
    assert ctx.saved["model_picker"]["run"] == "studio/20260101-000000-a"
    again.remember()
    assert ctx.saved["model_picker"]["run"] == "openai/gpt-4o-mini" and again.entry() is None

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path / "elsewhere"))
    again.browse()  # a folder: prefixed too (studio/<folder>)
    assert again.value() == f"studio/{tmp_path / 'elsewhere'}"
    assert [human_size(n) for n in (999, 1000, 123_456, 2_500_000_000)] == ["999 B", "1.0 kB", "123 kB", "2.5 GB"]


def test_an_empty_workspace_shows_a_hint_that_cannot_be_picked(sources, qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from studio.widgets import ModelPicker

    picker = ModelPicker(cast(Any, FakeContext(tmp_path / "empty")), "x")
    qtbot.addWidget(picker)
    assert picker.entries == [] and picker.model.rowCount() == 1
    assert picker.model.item(0, 0).flags() == Qt.ItemFlag.NoItemFlags and picker.value() == ""
