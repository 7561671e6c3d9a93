"""Hostile input to the inspector: a --text-file that is a FIFO or a device, and saved
inspections whose arrays, code locations or attention maps disagree with their tokens.
Each must be one clear error (CLI: exit 2), never a hang or an IndexError in a view."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from safetensors.numpy import load, save

from studio.testing import run_cli
from studio_trainer.config import ModelConfig
from studio_trainer.data.tokenizer import CharTokenizer
from studio_trainer.inspect import InspectError, Inspection, inspect_ids, load_interventions
from studio_trainer.inspect.inspection import attention_summary
from studio_trainer.inspect_cli import _tables
from studio_trainer.model.gpt import GPT

TOKENIZER = CharTokenizer(list("abcdefghij "))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_text_files_that_never_end_are_refused(studio_home, tmp_path, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # reading it would block until a writer comes
    for path in (fifo, "/dev/zero", tmp_path):  # /dev/zero says size 0 and never ends
        assert run_cli(["inspect", "any-model", "--text-file", path]) == 2
        err = capsys.readouterr().err
        assert "not a regular file" in err and len(err.strip().splitlines()) == 1, err


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch_model = GPT(ModelConfig(n_layer=2, n_head=2, n_embd=16, block_size=16, vocab_size=TOKENIZER.vocab_size))
    folder = tmp_path_factory.mktemp("saved") / "good"
    inspect_ids(torch_model, TOKENIZER, TOKENIZER.encode("abc defg"), top_k=3).save(folder)
    return folder


def _damaged(saved, where, meta=None, tensors=None, maps=None):
    folder = where / "copy"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(saved, folder)
    data = json.loads((folder / "inspection.json").read_text())
    (folder / "inspection.json").write_text(json.dumps({**data, **(meta or {})}))
    if tensors:
        arrays = {**load((folder / "inspection.safetensors").read_bytes()), **tensors}
        (folder / "inspection.safetensors").write_bytes(save(arrays))
    if maps is not None:
        (folder / "attention.safetensors").write_bytes(save({"attention": maps}))
    return folder


def test_saved_inspections_that_disagree_with_their_tokens(saved, tmp_path):
    good = Inspection.load(saved)
    _tables(good, 3, attention_summary(good))  # the untouched one opens and draws
    bad = {
        "top_ids": ({}, {"top_ids": np.zeros((3, 3), np.int64)}),
        "lens_top_ids": ({}, {"lens_top_ids": np.zeros((1, 2), np.int64)}),
        "attribution.attn": ({}, {"attribution.attn": np.zeros((5, 5), np.float32)}),
        "resid_norm": ({"n_layer": 10**9}, {}),
        "attribution.heads": ({"n_head": 10**6}, {}),
        "-1 layers": ({"n_layer": -1}, {}),
    }
    for message, (meta, tensors) in bad.items():
        with pytest.raises(InspectError, match="is corrupt: " + message):
            Inspection.load(_damaged(saved, tmp_path, meta, tensors))
    # a malformed code location is dropped: "no source", not a ValueError in the view
    hostile = _damaged(saved, tmp_path, {"code_locations": {"0:attn": ["/etc/passwd", "x", 3], "1:attn": [1]}})
    inspection = Inspection.load(hostile)
    for layer in (0, 1):
        with pytest.raises(InspectError, match="no attn whose source"):
            inspection.code_location(layer, "attn")
    # saved maps of another shape: said unavailable, not "needs the model"
    inspection = Inspection.load(_damaged(saved, tmp_path, maps=np.zeros((2, 2, 3, 3), np.float16)))
    with pytest.raises(InspectError, match="saved maps do not match"):
        inspection.attention(0, 0)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_saved_inspection_whose_numbers_are_a_fifo(saved, tmp_path):
    folder = _damaged(saved, tmp_path)
    (folder / "inspection.safetensors").unlink()
    os.mkfifo(folder / "inspection.safetensors")
    with pytest.raises(InspectError, match="not a regular file"):
        Inspection.load(folder)


def test_intervention_files_with_values_of_the_wrong_type(tmp_path):
    bad = {
        "layer '0' is not a whole number": {"kind": "head", "layer": "0", "head": 0},
        "head 0.5 is not a whole number": {"kind": "head", "layer": 0, "head": 0.5},
        "layer True is not a whole number": {"kind": "head", "layer": True, "head": 0},
        "position '1' is not a whole number": {"kind": "patch", "layer": 0, "position": "1", "source_text": "ab"},
        "source_text 5 is not text": {"kind": "patch", "layer": 0, "position": 0, "source_text": 5},
        "mode \\['zero'\\] is not text": {"kind": "layer", "layer": 0, "part": "mlp", "mode": ["zero"]},
    }
    path = tmp_path / "bad.json"
    for message, entry in bad.items():
        path.write_text(json.dumps({"format": "studio.intervention/1", "interventions": [entry]}))
        with pytest.raises(InspectError, match=message):
            load_interventions(path)
    fine = {"kind": "patch", "layer": 0, "position": -1, "source_text": "ab", "source_position": None}
    path.write_text(json.dumps({"format": "studio.intervention/1", "interventions": [fine]}))
    assert load_interventions(path)[0].source_position is None


@pytest.mark.gui
def test_a_hostile_saved_inspection_in_the_inspector(make_window, qtbot, saved, tmp_path):
    """Log-probabilities of 1e30 (math.exp overflowed in the token detail) and a code
    location naming a FIFO (the Code view blocked reading it): shown, said, no exception."""
    import studio_trainer.hooks as trainer_hooks

    data = load((saved / "inspection.safetensors").read_bytes())
    folder = _damaged(saved, tmp_path, tensors={"top_logprobs": np.full_like(data["top_logprobs"], 1e30)})
    fifo = tmp_path / "source.py"
    if hasattr(os, "mkfifo"):
        os.mkfifo(fifo)
        meta = json.loads((folder / "inspection.json").read_text())
        meta["code_locations"]["0:attn"][0] = str(fifo)
        meta["code_locations"]["1:attn"] = ["/etc/passwd", 1, "<img src='x'>"]  # a file that is no source
        (folder / "inspection.json").write_text(json.dumps(meta))
    window = make_window(("trainer", trainer_hooks))
    assert window.open_path(folder)
    panel = window.panels["trainer:inspector"]
    qtbot.waitUntil(lambda: panel.inspection is not None, timeout=10_000)
    for t in range(1, panel.inspection.T):  # alternatives clipped at probability 1, not an OverflowError
        assert "</code> 1.000" in panel.tokens.detail_html(t)
    panel.show_code(0, "attn")
    assert "not a regular file" in panel.code.where.text() or not hasattr(os, "mkfifo")
    if hasattr(os, "mkfifo"):
        panel.show_code(1, "attn")  # not shown, and its name is text, not markup
        where = panel.code.where.text()
        assert "not a Python source file" in where and "&lt;img" in where and not panel.code.source.toPlainText()


def test_the_open_hook_passes_over_json_nested_too_deep(tmp_path):
    import studio_trainer.hooks as trainer_hooks

    deep = tmp_path / "deep.json"  # json.loads raised RecursionError: the plugin was reported broken
    nested = "[" * 100_000 + "]" * 100_000
    deep.write_text('{"format": "studio.token-record/1", "model": "studio/x", "x": ' + nested + "}")
    assert trainer_hooks.studio_open_path(deep) is None


def test_saving_never_replaces_someone_elses_files(saved, tmp_path):
    inspection = Inspection.load(saved)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "inspection.json").write_text('{"my": "notes"}')
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    for folder, message in ((mine, "holds other files"), (afile, "it is a file")):
        with pytest.raises(InspectError, match=message):
            inspection.save(folder)
    assert (mine / "inspection.json").read_text() == '{"my": "notes"}' and afile.read_text() == "mine"
    inspection.save(tmp_path / "new")
    inspection.save(tmp_path / "new")  # over an earlier inspection: fine
    assert Inspection.load(tmp_path / "new").tokens == inspection.tokens


@pytest.mark.gui
def test_a_saved_model_name_is_never_markup(make_window, qtbot, saved, tmp_path):
    import studio_trainer.hooks as trainer_hooks

    window = make_window(("trainer", trainer_hooks))
    panel = window.show_panel("trainer:inspector")
    reasons = ["attention maps: <img src='x'>", "attribution: <b>y</b>"]
    meta = {"model": "<img src='/etc/passwd'><b>x</b>", "unavailable": reasons}
    panel.open_path(_damaged(saved, tmp_path, {**meta, "attention_available": False, "attribution": False}))
    qtbot.waitUntil(lambda: panel.inspection is not None, timeout=10_000)
    plain = panel.banner.textFormat().PlainText
    assert "<img src=" in panel.banner.text() and panel.banner.textFormat() == plain  # shown as typed
    for view in (panel.attention, panel.attribution):
        panel.tabs.setCurrentWidget(view)
        view.refresh()
    assert "<img src='x'>" in panel.attention.status.text() and panel.attention.status.textFormat() == plain
    assert "&lt;b&gt;y&lt;/b&gt;" in panel.attribution.summary.text()
