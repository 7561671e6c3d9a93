"""Quantized checkpoints: save / load, sizes in the report, the CLI on a trained studio
checkpoint, the dequantized export running in the trainer's generation, bad input."""

from __future__ import annotations

import json

import pytest
import torch

from studio_quantizer.quantized import (QuantizeError, load_quantized, quantize_state_dict,
                                        read_state_dict, save_quantized, summarize)
from studio_quantizer.scheme import Scheme


@pytest.mark.parametrize("scheme", [Scheme(bits=8), Scheme(bits=4, granularity="group", group_size=32),
                                    Scheme(bits=4, symmetric=False, granularity="group", group_size=32),
                                    Scheme(bits=3, granularity="tensor")])
def test_save_load_round_trip_matches_the_reference(checkpoint, tmp_path, scheme):
    state = read_state_dict(checkpoint)
    quantized, kept, rows = quantize_state_dict(state, scheme)
    assert set(quantized) == {"blocks.0.attn.qkv.weight", "blocks.0.mlp.fc.weight"}  # embeddings, 1-D kept
    out = save_quantized(quantized, kept, scheme, checkpoint, tmp_path / "q")
    loaded, manifest = load_quantized(out)
    assert manifest["scheme"]["bits"] == scheme.bits and (out / "config.json").exists()
    for name, qt in quantized.items():
        assert torch.equal(loaded[name], qt.dequantize())  # disk holds exactly the reference codes
    assert torch.equal(loaded["wte.weight"], state["wte.weight"])


def test_report_sizes_and_bits_per_weight(checkpoint):
    state = read_state_dict(checkpoint)
    _, kept, rows = quantize_state_dict(state, Scheme(bits=4, granularity="group", group_size=32))
    summary = summarize(rows, kept, Scheme(bits=4, granularity="group", group_size=32))
    assert summary["bits_per_weight"] == pytest.approx(4 + 16 / 32)  # codes + one fp16 scale per 32
    assert summary["linear_ratio"] == pytest.approx(4.5 / 32) and summary["linear_ratio"] <= 0.16
    _, kept8, rows8 = quantize_state_dict(state, Scheme(bits=8))
    int8 = summarize(rows8, kept8, Scheme(bits=8))
    assert int8["linear_ratio"] <= 0.27 and int8["worst_snr_db"] > 35


def test_layer_bits_and_skip(checkpoint):
    scheme = Scheme(bits=4, layer_bits={"blocks.0.mlp.*": 8}, skip=["wte.*", "*qkv*"])
    quantized, kept, _ = quantize_state_dict(read_state_dict(checkpoint), scheme)
    assert set(quantized) == {"blocks.0.mlp.fc.weight"} and quantized["blocks.0.mlp.fc.weight"].bits == 8
    assert "blocks.0.attn.qkv.weight" in kept


def test_bad_input_is_refused_and_nothing_overwritten(checkpoint, tmp_path):
    with pytest.raises(QuantizeError, match="no such checkpoint"):
        read_state_dict(tmp_path / "nope")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(QuantizeError, match="not a readable safetensors"):
        read_state_dict(broken)
    existing = tmp_path / "taken"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep me")
    quantized, kept, _ = quantize_state_dict(read_state_dict(checkpoint), Scheme())
    with pytest.raises(QuantizeError, match="already exists"):
        save_quantized(quantized, kept, Scheme(), checkpoint, existing)
    assert (existing / "mine.txt").read_text() == "keep me"
    out = save_quantized(quantized, kept, Scheme(), checkpoint, tmp_path / "q")
    manifest = json.loads((out / "quantization.json").read_text())
    manifest["tensors"]["blocks.0.mlp.fc.weight"]["blocks"] = [3, 3]
    (out / "quantization.json").write_text(json.dumps(manifest))
    with pytest.raises(QuantizeError, match="does not match its manifest"):
        load_quantized(out)


def test_cli_quantizes_a_trained_checkpoint_and_the_export_generates(make_studio, run_job, tmp_path, capsys):
    import studio_trainer.hooks as trainer_hooks
    from studio_trainer.tests.helpers import tiny

    from studio.cli import main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("To be, or not to be, that is the question.\n" * 300)
    studio = make_studio(("trainer", trainer_hooks))
    trained = run_job(studio, "trainer.train", tiny(corpus))
    assert trained.status == "succeeded", trained.error
    best = trained.run.dir / "checkpoints" / "best"
    source = best if best.exists() else sorted((trained.run.dir / "checkpoints").glob("step-*"))[-1]
    out = tmp_path / "int4"
    assert main(["quantize", str(source), "--bits", "4", "--granularity", "group", "--group-size", "16",
                 "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["saved"] == str(out) and report["layers"]
    assert main(["quantize", str(source), "--out", str(out)]) == 2  # refuses to overwrite
    assert "already exists" in capsys.readouterr().err
    export = tmp_path / "int4-float"
    assert main(["quantize", str(out), "--dequantize", "--out", str(export)]) == 0
    assert main(["trainer", "generate", str(export), "--prompt", "To be", "--max-new-tokens", "8",
                 "--seed", "0"]) == 0
    assert capsys.readouterr().out.strip()


def test_quantize_job_writes_into_its_run_folder(checkpoint, make_studio, run_job):
    import studio_quantizer.hooks as quantizer_hooks

    studio = make_studio(("quantizer", quantizer_hooks))
    job = run_job(studio, "quantizer.quantize", {"checkpoint": str(checkpoint), "bits": 4, "granularity": "group",
                                                 "group_size": 32})
    assert job.status == "succeeded", job.error
    assert (job.run.dir / "quantized" / "quantization.json").exists()
    report = json.loads((job.run.dir / "report.json").read_text())
    assert report["summary"]["bits_per_weight"] == pytest.approx(4.5) and job.result["linear_ratio"] < 0.16
    bad = run_job(studio, "quantizer.quantize", {"checkpoint": str(checkpoint.parent / "missing")})
    assert bad.status == "failed" and "no such checkpoint" in bad.error


def test_quantized_folder_opens_in_generate_and_the_local_provider(make_studio, run_job, tmp_path, capsys):
    import studio_trainer.hooks as trainer_hooks
    from studio_trainer.tests.helpers import tiny

    from studio.cli import main
    from studio_trainer.provider import complete

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Friends, Romans, countrymen, lend me your ears.\n" * 300)
    trained = run_job(make_studio(("trainer", trainer_hooks)), "trainer.train", tiny(corpus))
    source = sorted((trained.run.dir / "checkpoints").glob("step-*"))[-1]
    out = tmp_path / "q8"
    assert main(["quantize", str(source), "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    assert not (out / "model.safetensors").exists()  # only the quantized weights are stored
    assert main(["trainer", "generate", str(out), "--prompt", "Friends", "--max-new-tokens", "8", "--seed", "0"]) == 0
    printed = capsys.readouterr()
    assert printed.out.strip() and "(Quantized checkpoint, computing in its stored form)" in printed.err
    reply = complete(f"studio/{out}", [{"role": "user", "content": "Friends"}], max_tokens=6, seed=0)
    assert reply["choices"][0]["message"]["role"] == "assistant"


def test_generation_runs_int8_weights_on_the_int8_kernel_and_training_gets_floats(make_studio, run_job, tmp_path):
    import studio_trainer.hooks as trainer_hooks
    from studio_trainer.tests.helpers import tiny
    from studio_trainer.train.checkpoint import load_checkpoint

    from studio.cli import main
    from studio_quantizer.measure import DynamicInt8Linear

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Friends, Romans, countrymen, lend me your ears.\n" * 300)
    trained = run_job(make_studio(("trainer", trainer_hooks)), "trainer.train", tiny(corpus))
    source = sorted((trained.run.dir / "checkpoints").glob("step-*"))[-1]
    assert main(["quantize", str(source), "--out", str(tmp_path / "q8"), "--json"]) == 0
    assert main(["quantize", str(source), "--out", str(tmp_path / "q4"), "--bits", "4", "--json"]) == 0

    floats, tokenizer, config = load_checkpoint(tmp_path / "q8", "cpu")  # fine-tuning, measuring: floats
    int8, _, int8_config = load_checkpoint(tmp_path / "q8", "cpu", generate=True)
    assert "loaded_as" not in config and "Quantized checkpoint" in int8_config["loaded_as"]
    assert not any(isinstance(m, DynamicInt8Linear) for m in floats.modules())
    converted = {name for name, m in int8.named_modules() if isinstance(m, DynamicInt8Linear)}
    stored = {n.removesuffix(".weight") for n in json.loads((tmp_path / "q8" / "quantization.json").read_text())["tensors"]}
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
    import studio_trainer.hooks as trainer_hooks
    from studio_trainer.config import CHECKPOINT_FORMAT

    folder = tmp_path / "q"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"format": CHECKPOINT_FORMAT}))
    (folder / "quantization.json").write_text("{}")
    action = trainer_hooks.studio_open_path(folder)
    assert action is not None and action.panel == "trainer:generate"
    (folder / "config.json").write_text("{}")
    assert trainer_hooks.studio_open_path(folder) is None
