"""One resolver wherever a model is named (issue 17 §1): a trained run's id is a model of a
workflow run from the CLI (the README's ``--model studio/<trained run>``), of the Quantizer
and of the Tokenizer view; a quantize run's id names its quantized folder; the model
listing holds both. The checkpoint is made directly (random weights): no training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import studio_trainer.hooks as trainer_hooks
from studio.api import Folders, write_json
from studio.testing import run_cli

RUN_ID = "20261130-202707-trainer.train-91d0"
LETTERS = "abcdefghijklmnopqrstuvwxyz"  # no space: the random model's reply is never blank


def trained_run(workspace: Path, run_id: str = RUN_ID) -> Path:
    """A training run's folder as the trainer leaves it: its best checkpoint (a 1-layer,
    16-wide model, random weights) and its params; the checkpoint folder is returned."""
    import torch

    from studio_trainer.config import ModelConfig
    from studio_trainer.data.tokenizer import CharTokenizer
    from studio_trainer.model.gpt import GPT
    from studio_trainer.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    run = Folders(workspace).run_dir(run_id)
    config = ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=16, vocab_size=len(LETTERS) + 1)
    best = save_checkpoint(
        run / "checkpoints" / "best", GPT(config), CharTokenizer(list(LETTERS)), step=20, val_loss=2.5
    )
    write_json(run / "params.json", {"data": {"corpus": "/data/tiny.txt"}})
    return best


def one_node_workflow(folder: Path) -> Path:
    path = folder / "one.workflow.json"
    node = {
        "type": "prompts.predict",
        "inputs": {"question": "input.question"},
        "params": {"signature": "question -> answer", "config": {"max_tokens": 4, "temperature": 0}},
    }
    spec = {
        "format": "tensor-studio.workflow",
        "version": 1,
        "name": "one",
        "inputs": {"question": {"type": "str"}},
        "outputs": {"answer": "answer.answer"},
        "nodes": {"answer": node},
    }
    path.write_text(json.dumps(spec))
    return path


def test_a_trained_run_id_is_a_workflow_model_from_the_cli_while_the_gui_has_its_workspace_open(
    studio_home, tmp_path, monkeypatch, capsys
):
    """The reported case: the GUI opened a workspace and trained there; ``workflow run
    --model studio/<run id>`` without --workspace must look in that workspace."""
    import studio.core.display
    import studio.qt.app

    workspace = tmp_path / "ws"
    monkeypatch.setattr(studio.core.display, "check_display", lambda **_: None)
    monkeypatch.setattr(studio.qt.app, "run_gui", lambda studio, paths: 0)  # the window stays open meanwhile
    assert run_cli(["--workspace", workspace, "gui"]) == 0
    trained_run(workspace)
    workflow = one_node_workflow(tmp_path)
    args = ["workflow", "run", workflow, "--input", "question=why", "--no-cache", "--quiet"]
    assert run_cli([*args, "--model", f"studio/{RUN_ID}"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["answer"].strip()

    assert run_cli([*args, "--model", f"studio/{RUN_ID[:-1]}x"]) == 2  # an unknown run: bad input
    err = capsys.readouterr().err
    assert f"no run '{RUN_ID[:-1]}x' in the workspace {workspace}" in err and f"did you mean {RUN_ID}?" in err
    assert len([p for p in (workspace / "runs").iterdir() if "prompts.run" in p.name]) == 1  # refused before a run


def test_the_quantizer_takes_a_run_id_and_a_quantize_run_names_its_quantized_folder(studio_home, job_context):
    from studio_quantizer.config import QuantizeParams
    from studio_quantizer.jobs import quantize
    from studio_trainer.train.checkpoint import resolve_checkpoint

    ctx = job_context("20261201-000000-quantizer.quantize-0001")  # its workspace is tmp_path
    best = trained_run(ctx.folders.workspace)
    result = quantize(QuantizeParams(checkpoint=RUN_ID, bits=8), ctx)  # a run id, as typed in the panel
    assert result["saved"] == str(ctx.run_dir / "quantized")
    assert json.loads((ctx.run_dir / "quantized" / "quantization.json").read_text())["source"] == str(best)

    from studio.api import list_models, resolve_model  # (here: the lines above also run on the old code)

    assert resolve_model(ctx.run_id, ctx.folders) == ctx.run_dir / "quantized"
    assert resolve_checkpoint(ctx.run_id, ctx.folders, prefer="best") == ctx.run_dir / "quantized"  # Generate, studio/
    listed = {(e.ref, e.kind): e for e in list_models(ctx.folders)}
    assert set(listed) == {(RUN_ID, "trained run"), (ctx.run_id, "quantized")}
    trained = listed[(RUN_ID, "trained run")]
    assert trained.path == best and trained.name == "tiny.txt · 1 layer × 16" and "step 20" in trained.detail
    assert trained.size_bytes == (best / "model.safetensors").stat().st_size
    assert listed[(ctx.run_id, "quantized")].name == f"int8 per channel of {RUN_ID}"


@pytest.mark.gui
def test_the_tokenizer_view_and_generate_take_a_run_id(make_window):
    window = make_window(("trainer", trainer_hooks))
    trained_run(window.studio.workspace.root)
    tokens = window.show_panel("trainer:tokens")
    tokens.load(RUN_ID)
    tokens.text.setPlainText("speak")
    assert tokens.info.text().startswith("5 tokens for 5 characters"), tokens.info.text()
    assert tokens.path.value() == RUN_ID  # what was typed stays; it is what is remembered
    generate = window.show_panel("trainer:generate")
    generate.checkpoint.refresh()
    assert [e.ref for e in generate.checkpoint.entries] == [RUN_ID]


# ---------------------------------------------------------------- hostile runs (no torch: files only)


def fake_trained_run(folders: Folders, run_id: str, **config) -> Path:
    """A trained run as the listing sees it: best/config.json and weights of 64 bytes (the
    listing ``stat``s weights, never opens them)."""
    from studio_trainer.config import CHECKPOINT_FORMAT

    best = folders.run_dir(run_id) / "checkpoints" / "best"
    best.mkdir(parents=True)
    model = {"n_layer": 1, "n_embd": 16}
    (best / "config.json").write_text(json.dumps({"format": CHECKPOINT_FORMAT, "model": model, "step": 20, **config}))
    (best / "model.safetensors").write_bytes(b"\0" * 64)
    return best


def fake_quantize_run(folders: Folders, run_id: str) -> Path:
    out = folders.run_dir(run_id) / "quantized"
    out.mkdir(parents=True)
    (out / "quantization.json").write_text(json.dumps({"scheme": {"bits": 8, "granularity": "channel"}}))
    (out / "config.json").write_text("{}")
    (out / "quantized.safetensors").write_bytes(b"\0" * 32)
    return out


def test_one_broken_run_hides_no_other_model(studio_home, tmp_path, monkeypatch, caplog):
    """Per run, not per plugin: a dangling or looping weights link, a validation loss no
    float holds, an unreadable folder leave that run out and list the others; a run whose
    checkpoint holds no weights is not a model (0 B)."""
    from studio.api import list_models

    folders = Folders(str(tmp_path / "ws"))  # type: ignore[arg-type]  # a str is taken as a path
    good_t, good_q = "20261201-000001-trainer.train-good", "20261201-000002-quantizer.quantize-good"
    fake_trained_run(folders, good_t)
    fake_quantize_run(folders, good_q)
    dangling = fake_trained_run(folders, "t-dangling") / "model.safetensors"
    dangling.unlink()
    dangling.symlink_to(tmp_path / "nowhere")
    (fake_quantize_run(folders, "q-loop") / "loop.safetensors").symlink_to("loop.safetensors")
    (fake_trained_run(folders, "t-loop") / "other.safetensors").symlink_to("other.safetensors")
    huge = fake_trained_run(folders, "t-huge-loss", val_loss=0)
    (huge / "config.json").write_text(
        (huge / "config.json").read_text().replace('"val_loss": 0', f'"val_loss": {10**400}')
    )
    (fake_trained_run(folders, "t-no-weights") / "model.safetensors").unlink()
    for q_empty in fake_quantize_run(folders, "q-no-weights").glob("*.safetensors"):
        q_empty.unlink()
    unreadable = {fake_trained_run(folders, "t-unreadable"), fake_quantize_run(folders, "q-unreadable")}
    iterdir = Path.iterdir

    def refuse(self):  # chmod 000 as a user (the tests may run as root, who reads anything)
        if self in unreadable:
            raise PermissionError(13, "Permission denied", str(self))
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", refuse)
    listed = {e.ref: e for e in list_models(folders)}
    assert {good_t, good_q} <= set(listed), caplog.text
    assert not {"t-dangling", "t-no-weights", "q-no-weights", "t-unreadable", "q-unreadable"} & set(listed)
    assert "validation loss" not in listed["t-huge-loss"].detail and listed["t-huge-loss"].size_bytes == 64
    assert listed["t-loop"].size_bytes == 64 and listed["q-loop"].size_bytes == 32  # the real weights only
    assert "t-unreadable" in caplog.text  # left out, and logged
    assert {e.ref for e in list_models(str(tmp_path / "ws"))} == set(listed)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not int"):
        list_models(5)  # type: ignore[arg-type]  # never an empty list, silently


def test_a_workflow_model_must_hold_a_model_not_only_exist(make_studio, tmp_path, monkeypatch, capsys):
    """``--model studio/<ref>`` is checked before a run folder is made: a self-test run, a
    run whose checkpoint has no weights, ``..``: exit 2, one line."""
    workspace = make_studio(workspace=tmp_path / "ws").workspace.root
    folders = Folders(workspace)
    fake_trained_run(folders, "20261201-000001-trainer.train-good")
    selftest = folders.run_dir("20261201-000003-diagnostics.stream-2dec")
    selftest.mkdir(parents=True)
    (selftest / "run.json").write_text("{}")
    (fake_trained_run(folders, "20261201-000004-trainer.train-empty") / "model.safetensors").unlink()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # ``..`` is tmp_path: no model there
    args = ["--workspace", workspace, "workflow", "run", one_node_workflow(tmp_path), "--input", "question=why"]
    for ref, says in (
        (selftest.name, "holds no model (no config.json and weights)"),
        ("20261201-000004-trainer.train-empty", "holds no model"),
        ("..", "holds no model"),
    ):
        assert run_cli([*args, "--model", f"studio/{ref}"]) == 2, ref
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1, err
    assert not list((workspace / "runs").glob("*prompts.run*"))  # refused before a run folder


def test_a_run_that_stopped_early_says_so_in_the_model_list(studio_home, tmp_path):
    """An interrupted or cancelled run's checkpoint is listed, named so the user can tell it
    from a finished run of the same settings."""
    from studio.api import list_models

    folders = Folders(tmp_path / "ws")
    for run_id, status in (("t-done", "succeeded"), ("t-stopped", "interrupted"), ("t-no-run-json", None)):
        fake_trained_run(folders, run_id)
        if status:
            write_json(folders.run_dir(run_id) / "run.json", {"id": run_id, "status": status})
    names = {e.ref: e.name for e in list_models(folders)}
    assert names["t-stopped"] == names["t-done"] + " (interrupted at step 20)"
    assert names["t-no-run-json"] == names["t-done"]
