"""Browsing Hugging Face models (issue 19): the model picker lists them (kind, size, family and
dtype), the Generate panel offers a dtype for them only and remembers device and dtype, and the
trainer claims a Hugging Face folder (or a hub cache's ``models--org--name``) and ``hf/`` token
records when a file is opened."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from studio.api import Folders
from studio.testing import tiny_hf_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_hf_model(tmp_path_factory.mktemp("tiny") / "qwen", family="qwen2", dtype="float32")


@pytest.fixture
def trainer_sources(make_studio):
    """A studio with the trainer: its model sources are the process's (the picker lists them)."""
    from studio_trainer import hooks

    return make_studio(("trainer", hooks)).host


class FakeContext:
    """What the picker and the panel use of a PanelContext before anything runs."""

    def __init__(self, workspace: Path):
        self.folders = Folders(workspace)
        self.saved: dict = {}

    def settings(self) -> dict:
        return dict(self.saved)

    def save_settings(self, values: dict) -> None:
        self.saved = dict(values)

    def subscribe(self, callback: Any) -> Any:
        return lambda: None


@pytest.fixture
def ctx(tmp_path, tiny, monkeypatch) -> Any:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    context = FakeContext(tmp_path / "ws")
    shutil.copytree(tiny, context.folders.models / "qwen-tiny")
    return context


def test_the_picker_shows_hugging_face_models_with_family_and_dtype(trainer_sources, ctx, qtbot):
    from studio.widgets import ModelPicker

    picker = ModelPicker(ctx, "gen")
    qtbot.addWidget(picker)
    picker.refresh()
    columns = picker.model.columnCount()
    rows = [[picker.model.item(r, c).text() for c in range(columns)] for r in range(picker.model.rowCount())]
    row = next(r for r in rows if r[1] == "qwen-tiny")
    assert row[2] == "Hugging Face" and row[3].endswith("B")
    tip = picker.model.item(rows.index(row), 0).toolTip()
    assert "qwen2" in tip and "float32" in tip


def test_generate_panel_offers_a_dtype_for_hugging_face_models_only_and_remembers_it(
    trainer_sources, ctx, qtbot, monkeypatch, tmp_path
):
    from studio_trainer.qt.generate_panel import GeneratePanel

    panel = GeneratePanel(ctx)
    qtbot.addWidget(panel)
    assert not panel.dtype.isEnabled()  # no model yet
    panel.open_path(ctx.folders.models / "qwen-tiny" / "config.json")
    assert panel.checkpoint.value() == str(ctx.folders.models / "qwen-tiny")
    assert panel.dtype.isEnabled()
    panel.dtype.setCurrentText("bfloat16")
    panel.device.setCurrentText("cpu")
    started: list[dict] = []
    monkeypatch.setattr(panel.tracker, "start", lambda kind, params, **_: started.append(params) or "run-1")
    panel.generate()
    assert started[0]["dtype"] == "bfloat16" and started[0]["device"] == "cpu"

    again = GeneratePanel(ctx)  # restarted: the choices are back
    qtbot.addWidget(again)
    assert again.dtype.currentText() == "bfloat16" and again.device.currentText() == "cpu"
    assert again.dtype.isEnabled()

    studio_like = tmp_path / "ckpt"
    studio_like.mkdir()
    (studio_like / "config.json").write_text(json.dumps({"format": "studio.checkpoint/1"}))
    again.checkpoint.setText(str(studio_like))
    assert not again.dtype.isEnabled()  # a studio checkpoint keeps its own dtype
    started.clear()
    monkeypatch.setattr(again.tracker, "start", lambda kind, params, **_: started.append(params) or "run-2")
    again.generate()
    assert "dtype" not in started[0]


def test_the_trainer_claims_hugging_face_folders_but_not_encoders(tmp_path, tiny):
    from studio_trainer import hooks

    model = shutil.copytree(tiny, tmp_path / "m")
    action = hooks.studio_open_path(model)
    assert action is not None and action.panel == "trainer:generate" and "Hugging Face" in action.description
    assert hooks.studio_open_path(model / "config.json") is not None
    repo = tmp_path / "hub" / "models--acme--tiny"
    shutil.copytree(tiny, repo / "snapshots" / "r1")
    action = hooks.studio_open_path(repo)
    assert action is not None and action.panel == "trainer:generate"
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    (bert / "model.safetensors").write_bytes(b"\0" * 8)
    assert hooks.studio_open_path(bert) is None


def test_token_records_of_hf_models_open_in_the_inspector_and_remote_ones_do_not(tmp_path):
    from studio_trainer import hooks

    def record(model: str) -> Path:
        path = tmp_path / f"{model.replace('/', '_')}.json"
        path.write_text(json.dumps({"format": hooks.TOKEN_RECORD, "model": model, "tokens": []}))
        return path

    action = hooks.studio_open_path(record("hf/models/qwen-tiny"))
    assert action is not None and action.panel == "trainer:inspector"
    assert hooks.studio_open_path(record("openai/gpt-4o-mini")) is None
    assert hooks.studio_open_path(record("hfx/other")) is None


def test_a_picker_of_provider_model_strings_offers_hugging_face_models_as_hf_refs(trainer_sources, ctx, qtbot):
    from studio.widgets import ModelPicker

    picker = ModelPicker(ctx, "prompt", prefix="studio/")  # as the prompt engine's model fields are
    qtbot.addWidget(picker)
    picker.refresh()
    row = next(r for r, e in enumerate(picker.entries) if e.name == "qwen-tiny")
    picker.combo.activated.emit(row)
    entry = picker.entries[row]
    assert picker.value() == f"hf/{entry.ref}" and picker.entry() == entry
    plain = ModelPicker(ctx, "generate")  # no prefix: the folder itself, as the Generate panel takes it
    qtbot.addWidget(plain)
    assert plain.value_of(entry) == entry.ref
