"""The quantizer on checkpoints the trainer made: the CLI's report, measuring loss and
latency through the trainer's model loader, comparing schemes, static quantization, and
quantized folders opening in the trainer's Generate and the local ``studio/`` provider."""

from __future__ import annotations

import json

import pytest
import torch

import studio_trainer.hooks as trainer_hooks
from studio.api import RunStatus
from studio.cli import main

from .tiny import TINY_TRAINING as TINY

HAMLET = "To be, or not to be, that is the question.\n" * 300
CAESAR = "Friends, Romans, countrymen, lend me your ears.\n" * 300
JAQUES = "All the world's a stage, and all the men and women merely players.\n" * 200
RICHARD = "Now is the winter of our discontent made glorious summer by this sun of York.\n" * 200
POLONIUS = "Brevity is the soul of wit.\n" * 300


@pytest.fixture(scope="module")
def trained_runs() -> dict:
    """Checkpoint folders and corpora of the module's runs without a studio of their own,
    by text: tests that only read a checkpoint share one run per text (each run is a
    worker process that imports torch and trains)."""
    return {}


@pytest.fixture
def train(make_studio, run_job, tmp_path, trained_runs):
    """``train(text, best=False, studio=None)``: a tiny run on ``text`` (a job of ``studio``,
    by default a new one with the trainer, or the module's earlier run on the same text);
    returns its checkpoint folder (the best one if asked and there is one, else the last)
    and the corpus file. The folders are read, never changed."""

    def train(text: str, best: bool = False, studio=None):
        if studio is None and text in trained_runs:
            folder, corpus = trained_runs[text]
        else:
            corpus = tmp_path / "corpus.txt"
            corpus.write_text(text)
            trained = run_job(
                studio or make_studio(("trainer", trainer_hooks)),
                "trainer.train",
                {**TINY, "data": {"corpus": str(corpus)}},
            )
            assert trained.status == RunStatus.SUCCEEDED, trained.error
            folder = trained.run.dir / "checkpoints"
            if studio is None:
                trained_runs[text] = folder, corpus
        if best and (folder / "best").exists():
            return folder / "best", corpus
        return sorted(folder.glob("step-*"))[-1], corpus

    return train


def test_cli_quantizes_a_trained_checkpoint_and_the_export_generates(train, tmp_path, capsys):
    source, _ = train(HAMLET, best=True)
    out = tmp_path / "int4"
    assert (
        main(
            [
                "quantize",
                str(source),
                "--bits",
                "4",
                "--granularity",
                "group",
                "--group-size",
                "16",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["saved"] == str(out) and report["layers"]
    assert main(["quantize", str(source), "--out", str(out)]) == 2  # refuses to overwrite
    assert "already exists" in capsys.readouterr().err
    export = tmp_path / "int4-float"
    assert main(["quantize", str(out), "--dequantize", "--out", str(export)]) == 0
    assert main(["trainer", "generate", str(export), "--prompt", "To be", "--max-new-tokens", "8", "--seed", "0"]) == 0
    assert capsys.readouterr().out.strip()


def test_quantized_folder_opens_in_generate_and_the_local_provider(train, tmp_path, capsys):
    from studio_trainer.provider import complete

    source, _ = train(CAESAR)
    out = tmp_path / "q8"
    assert main(["quantize", str(source), "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    assert not (out / "model.safetensors").exists()  # only the quantized weights are stored
    assert main(["trainer", "generate", str(out), "--prompt", "Friends", "--max-new-tokens", "8", "--seed", "0"]) == 0
    printed = capsys.readouterr()
    assert printed.out.strip() and "(Quantized checkpoint, computing in its stored form)" in printed.err
    reply = complete(f"studio/{out}", [{"role": "user", "content": "Friends"}], max_tokens=6, seed=0)
    assert reply["choices"][0]["message"]["role"] == "assistant"


def test_generation_runs_int8_weights_on_the_int8_kernel_and_training_gets_floats(train, tmp_path):
    from studio_quantizer.measure import DynamicInt8Linear
    from studio_trainer.train.checkpoint import load_checkpoint

    source, _ = train(CAESAR)
    assert main(["quantize", str(source), "--out", str(tmp_path / "q8"), "--json"]) == 0
    assert main(["quantize", str(source), "--out", str(tmp_path / "q4"), "--bits", "4", "--json"]) == 0

    floats, tokenizer, config = load_checkpoint(tmp_path / "q8", "cpu")  # fine-tuning, measuring: floats
    int8, _, int8_config = load_checkpoint(tmp_path / "q8", "cpu", generate=True)
    assert "loaded_as" not in config and "Quantized checkpoint" in int8_config["loaded_as"]
    assert not any(isinstance(m, DynamicInt8Linear) for m in floats.modules())
    converted = {name for name, m in int8.named_modules() if isinstance(m, DynamicInt8Linear)}
    manifest = json.loads((tmp_path / "q8" / "quantization.json").read_text())
    stored = {name.removesuffix(".weight") for name in manifest["tensors"]}
    linears = {name for name, m in floats.named_modules() if isinstance(m, torch.nn.Linear)}
    assert converted and converted == stored & linears  # every int8 Linear, nothing else
    x = torch.tensor([tokenizer.encode("Friends, Romans")])
    with torch.no_grad():
        float_logits, int8_logits = floats(x)[0], int8(x)[0]
    assert torch.allclose(int8_logits, float_logits, atol=0.1 * float_logits.abs().max().item())
    assert (int8_logits.argmax(-1) == float_logits.argmax(-1)).float().mean() > 0.9

    four_bit, _, four_config = load_checkpoint(tmp_path / "q4", "cpu", generate=True)  # no int4 kernel: floats
    assert "loaded_as" not in four_config
    assert not any(isinstance(m, DynamicInt8Linear) for m in four_bit.modules())


def test_a_quantized_folder_dropped_on_the_studio_opens_in_generate(tmp_path):
    from studio_trainer.config import CHECKPOINT_FORMAT

    folder = tmp_path / "q"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"format": CHECKPOINT_FORMAT}))
    (folder / "quantization.json").write_text("{}")
    action = trainer_hooks.studio_open_path(folder)
    assert action is not None and action.panel == "trainer:generate"
    (folder / "config.json").write_text("{}")
    assert trainer_hooks.studio_open_path(folder) is None


def test_loss_and_latency_before_and_after(train, tmp_path, capsys):
    source, corpus = train(HAMLET)
    assert (
        main(
            [
                "quantize",
                str(source),
                "--bits",
                "8",
                "--measure",
                str(corpus),
                "--repeats",
                "3",
                "--out",
                str(tmp_path / "q8"),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    before, weight_only, dynamic = (report["measured"][k] for k in ("fp32", "weight_only", "dynamic_int8"))
    assert abs(weight_only["loss"] - before["loss"]) < 0.05 and abs(dynamic["loss"] - before["loss"]) < 0.1
    assert before["latency_ms_b8"] > 0 and dynamic["latency_ms_b1"] > 0
    bad = tmp_path / "notamodel"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes((source / "model.safetensors").read_bytes())
    assert main(["quantize", str(bad), "--measure", str(corpus), "--out", str(tmp_path / "x")]) == 2
    assert "no installed plugin can load" in capsys.readouterr().err


def test_compare_and_sensitivity(train, capsys):
    source, corpus = train(JAQUES)
    assert (
        main(["quantize", str(source), "--compare", "int8,int4-g16,int2-tensor", "--measure", str(corpus), "--json"])
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [r["scheme"] for r in rows] == [
        "int8-sym-channel-weight_only",
        "int4-sym-group16-weight_only",
        "int2-sym-tensor-weight_only",
    ]
    assert rows[0]["bits_per_weight"] > rows[1]["bits_per_weight"] > rows[2]["bits_per_weight"]
    assert abs(rows[0]["loss_change"]) < abs(rows[2]["loss_change"])  # 2 bits per tensor hurts most
    assert (
        main(
            [
                "quantize",
                str(source),
                "--bits",
                "2",
                "--granularity",
                "tensor",
                "--sensitivity",
                "--measure",
                str(corpus),
                "--json",
            ]
        )
        == 0
    )
    layers = json.loads(capsys.readouterr().out)
    assert layers and layers[0]["loss_change"] >= layers[-1]["loss_change"]
    assert main(["quantize", str(source), "--sensitivity"]) == 2
    assert "needs --measure" in capsys.readouterr().err


def test_static_mode_from_the_cli(train, tmp_path, capsys):
    source, corpus = train(RICHARD)
    assert (
        main(
            [
                "quantize",
                str(source),
                "--mode",
                "static",
                "--observer",
                "percentile",
                "--measure",
                str(corpus),
                "--repeats",
                "2",
                "--out",
                str(tmp_path / "s"),
                "--json",
            ]
        )
        == 0
    )
    measured = json.loads(capsys.readouterr().out)["measured"]
    assert abs(measured["static_int8_percentile"]["loss"] - measured["fp32"]["loss"]) < 0.1
    empty = tmp_path / "empty.txt"
    empty.write_text("   ")
    assert (
        main(["quantize", str(source), "--mode", "static", "--calibration", str(empty), "--out", str(tmp_path / "e")])
        == 2
    )
    assert "calibration set is empty" in capsys.readouterr().err and not (tmp_path / "e").exists()


def test_the_compare_job_measures_through_the_trainer_and_returns_its_rows(train, make_studio, run_job):
    """The job the panel runs: in a worker, the loss is measured through the trainer's model
    loader; the rows it returns (the panel's table) are those of compare.json."""
    import studio_quantizer.hooks as quantizer_hooks

    studio = make_studio(("trainer", trainer_hooks), ("quantizer", quantizer_hooks))
    source, corpus = train(POLONIUS, studio=studio)
    job = run_job(
        studio,
        "quantizer.compare",
        {"checkpoint": str(source), "schemes": "int8,int4-g16", "measure_text": str(corpus)},
    )
    assert job.status == RunStatus.SUCCEEDED, job.error
    assert job.result["rows"] == json.loads((job.run.dir / "compare.json").read_text())
    assert [row["scheme"] for row in job.result["rows"]] == [
        "int8-sym-channel-weight_only",
        "int4-sym-group16-weight_only",
    ]
    assert all("loss_change" in row for row in job.result["rows"])
