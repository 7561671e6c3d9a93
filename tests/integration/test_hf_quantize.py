"""A quantized Hugging Face folder in the trainer (issue 19): int8 on the Linear layers,
measured through the trainer's loader (the ``studio_model_loaders`` hook), opens again to
generate on the int8 kernel and, in float32, close to the original. (The quantizer's own
cases, GPT-2, int4, shards and refusals: plugins/studio_quantizer/tests/test_hf_quantize.py.)
Tiny random models: no download."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from studio.testing import run_cli, tiny_hf_model
from studio_trainer.hf.load import load_hf
from studio_trainer.train.sampling import sample_with_record

TEXT = ("To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer. " * 60).strip()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {family: tiny_hf_model(root / family, family) for family in ("gpt2", "llama")}


@pytest.fixture
def text(tmp_path) -> Path:
    path = tmp_path / "text.txt"
    path.write_text(TEXT)
    return path


def quantize(*args, capsys) -> dict:
    code = run_cli(["quantize", *map(str, args), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_llama_int8_per_channel_measures_and_reopens_to_generate(models, text, tmp_path, capsys):
    out = tmp_path / "llama-int8"
    report = quantize(models["llama"], "--out", out, "--measure", text, "--repeats", 2, capsys=capsys)
    names = {row["name"] for row in report["layers"]}
    assert names == {
        f"model.layers.{i}.{part}.weight"
        for i in range(2)
        for part in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
        + ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
    }  # every Linear layer; the embeddings and the head kept
    measured = report["measured"]
    assert {"fp32", "weight_only", "dynamic_int8"} <= measured.keys()
    assert all(torch.isfinite(torch.tensor(m["loss"])) for m in measured.values())
    assert abs(measured["dynamic_int8"]["loss"] - measured["fp32"]["loss"]) < 0.01  # int8: close
    assert measured["fp32"]["latency_ms_b1"] > 0
    for name in ("tokenizer.json", "chat_template.jinja", "generation_config.json", "config.json"):
        assert (out / name).is_file(), name  # what the model needs to open again, its chat template too

    model, tokenizer, config = load_hf(out, "cpu", generate=True)
    assert "computing in its stored form" in config["loaded_as"]
    assert type(model.blocks[0].attn.q_proj).__name__ == "DynamicInt8Linear"
    sample = sample_with_record(model, tokenizer, "To be", 6, 0.0, None)
    assert len(sample.steps) == 6
    floats, _, _ = load_hf(out, "cpu", "float32")  # for inspection or training: float weights
    reference, _, _ = load_hf(models["llama"], "cpu", "float32")
    ids = torch.tensor([tokenizer.encode("To be, or not")])
    with torch.no_grad():
        close = floats(ids, ids)[0]
        exact = reference(ids, ids)[0]
    assert 0 < float((close - exact).abs().max()) < 0.05  # quantized, not copied, and still close
