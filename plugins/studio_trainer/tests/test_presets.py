"""Trainer presets: built-ins are valid settings, user presets round-trip, bad files are named."""

from __future__ import annotations

import json

import pytest

from studio_trainer.config import TrainParams
from studio_trainer.presets import BUILTIN_DIR, PresetError, list_presets, load_preset, save_preset


def test_every_builtin_preset_is_valid_and_described():
    presets = [p for p in list_presets(None) if p.builtin]
    assert {p.name for p in presets} >= {"cpu-char-small", "gpu-char-6x384", "bpe-6x256"}
    for preset in presets:
        assert preset.description and not preset.description.startswith("⚠")
        TrainParams.model_validate(load_preset(preset.path))


def test_a_preset_is_also_a_params_file():
    """TrainParams ignores the description, so `jobs run trainer.train --params PRESET` works."""
    raw = json.loads((BUILTIN_DIR / "gpu-char-6x384.json").read_text())
    assert "description" in raw
    assert TrainParams.model_validate(raw).model.n_embd == 384


def test_user_presets_round_trip_and_are_not_overwritten_silently(tmp_path):
    values = {"model": {"n_layer": 2}, "max_steps": 50}
    path = save_preset(tmp_path, "tiny / test", values, description="two layers")
    assert path.name == "tiny-test.json"
    assert load_preset(path) == values
    listed = [p for p in list_presets(tmp_path) if not p.builtin]
    assert [(p.name, p.description) for p in listed] == [("tiny-test", "two layers")]
    with pytest.raises(FileExistsError):
        save_preset(tmp_path, "tiny-test", {"max_steps": 5})
    save_preset(tmp_path, "tiny-test", {"max_steps": 5}, overwrite=True)
    assert load_preset(path) == {"max_steps": 5}
    with pytest.raises(PresetError, match="needs a name"):
        save_preset(tmp_path, " / ", values)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{broken", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"max_steps": -3}', "max_steps"),
    ],
)
def test_bad_preset_files_get_a_message_that_names_them(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(PresetError, match=message) as caught:
        load_preset(path)
    assert "bad.json" in str(caught.value)
    listed = {p.name: p for p in list_presets(tmp_path)}
    if content.startswith('{"max'):
        return  # valid JSON: listed normally, refused when loaded
    assert listed["bad"].description.startswith("⚠")
