"""Quantized checkpoints: save / load, sizes in the report, bad input, the quantize job.
(On checkpoints the trainer made: tests/integration/test_quantizer_and_trainer.py.)"""

from __future__ import annotations

import json

import pytest
import torch

from studio.api import JobError, RunStatus
from studio_quantizer.quantized import (
    QuantizeError,
    load_quantized,
    quantize_state_dict,
    read_state_dict,
    save_quantized,
    summarize,
)
from studio_quantizer.scheme import Scheme


@pytest.mark.parametrize(
    "scheme",
    [
        Scheme(bits=8),
        Scheme(bits=4, granularity="group", group_size=32),
        Scheme(bits=4, symmetric=False, granularity="group", group_size=32),
        Scheme(bits=3, granularity="tensor"),
    ],
)
def test_save_load_round_trip_matches_the_reference(checkpoint, tmp_path, scheme):
    state = read_state_dict(checkpoint)
    quantized, kept, _ = quantize_state_dict(state, scheme)
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


def test_quantize_job_writes_into_its_run_folder(checkpoint, make_studio, run_job):
    import studio_quantizer.hooks as quantizer_hooks

    studio = make_studio(("quantizer", quantizer_hooks))
    job = run_job(
        studio,
        "quantizer.quantize",
        {"checkpoint": str(checkpoint), "bits": 4, "granularity": "group", "group_size": 32},
    )
    assert job.status == RunStatus.SUCCEEDED, job.error
    assert (job.run.dir / "quantized" / "quantization.json").exists()
    report = json.loads((job.run.dir / "report.json").read_text())
    assert report["summary"]["bits_per_weight"] == pytest.approx(4.5) and job.result["linear_ratio"] < 0.16
    with pytest.raises(JobError, match=r"checkpoint: .*missing: no such folder"):  # refused before a run folder
        run_job(studio, "quantizer.quantize", {"checkpoint": str(checkpoint.parent / "missing")})


def test_the_compare_job_returns_its_rows(checkpoint, make_studio, run_job):
    import studio_quantizer.hooks as quantizer_hooks

    job = run_job(
        make_studio(("quantizer", quantizer_hooks)),
        "quantizer.compare",
        {"checkpoint": str(checkpoint), "schemes": "int8,int4-g32"},
    )
    assert job.status == RunStatus.SUCCEEDED, job.error
    assert job.result["rows"] == json.loads((job.run.dir / "compare.json").read_text())
    assert [row["scheme"] for row in job.result["rows"]] == [
        "int8-sym-channel-weight_only",
        "int4-sym-group32-weight_only",
    ]


def test_report_text_and_reading_a_report(tmp_path):
    from studio_quantizer.report import loss_text, read_report

    assert loss_text({"loss": 1.9012, "perplexity": 6.694}) == "loss 1.9012 (ppl 6.69) · "
    assert loss_text({"loss": 0.5, "loss_name": "MSE"}) == "MSE 0.50000 · " and loss_text({}) == ""
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"summary": {}, "layers": []}))
    assert read_report(path) == {"summary": {}, "layers": []}
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a quantize report"):
        read_report(path)
