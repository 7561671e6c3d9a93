"""Hugging Face causal LM folders through the quantizer: Linear layers quantized, the loss
measured on a text, the quantized folder reopened by the trainer's Generate; GPT-2's tied
head kept as the embedding; sharded folders read as one state dict; pickles refused."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file

from studio.testing import run_cli, tiny_hf_model

TEXT = "".join(f"Line {i}: the brown fox jumps over the lazy dog, and the cat sat on the mat.\n" for i in range(60))


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8")  # a few KB
    return path


def quantize(source, out, *extra) -> int:
    return run_cli(["quantize", source, "--out", out, "--json", "--repeats", 1, *extra])


def report_of(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def generates(folder, capsys) -> str:
    capsys.readouterr()
    assert (
        run_cli(["trainer", "generate", folder, "--prompt", "the cat", "--max-new-tokens", 4, "--temperature", 0]) == 0
    )
    return capsys.readouterr().out


def test_llama_int8_per_channel_quantizes_the_linear_layers_measures_and_generates(tmp_path, text, capsys, studio_home):
    source = tiny_hf_model(tmp_path / "llama", family="llama")
    out = tmp_path / "llama-int8"
    capsys.readouterr()
    assert quantize(source, out, "--measure", text) == 0
    report = report_of(capsys)
    names = {row["name"] for row in report["layers"]}
    linears = {n for n, t in load_file(str(source / "model.safetensors")).items() if "proj" in n and t.dim() == 2}
    assert names == linears  # the decoder's Linear layers; embeddings, norms and the head stay float
    losses = {kind: row["loss"] for kind, row in report["measured"].items()}
    assert set(losses) >= {"fp32", "weight_only", "dynamic_int8"}
    assert all(math.isfinite(v) for v in losses.values())
    assert abs(losses["weight_only"] - losses["fp32"]) < 0.02
    assert abs(losses["dynamic_int8"] - losses["fp32"]) < 0.05
    assert (out / "quantization.json").is_file() and (out / "tokenizer.json").is_file()
    assert (out / "chat_template.jinja").is_file() or "chat_template" in (out / "tokenizer_config.json").read_text()
    assert (out / "generation_config.json").is_file()
    assert generates(out, capsys).strip()


def test_llama_int4_group_quantizes_and_generates(tmp_path, capsys, studio_home):
    source = tiny_hf_model(tmp_path / "llama", family="llama")
    out = tmp_path / "llama-int4"
    assert quantize(source, out, "--bits", 4, "--granularity", "group", "--group-size", 16) == 0
    rows = report_of(capsys)["layers"]
    assert rows and all(r["bits"] == 4 and r["granularity"] == "group" for r in rows)
    assert generates(out, capsys).strip()


def test_gpt2_conv1d_layers_quantize_and_the_tied_head_stays_the_embedding(tmp_path, capsys, studio_home):
    source = tiny_hf_model(tmp_path / "gpt2", family="gpt2")
    out = tmp_path / "gpt2-int8"
    assert quantize(source, out) == 0
    rows = report_of(capsys)["layers"]
    assert {r["name"].split(".")[-2] for r in rows} == {"c_attn", "c_proj", "c_fc"}
    stored = load_file(str(out / "quantized.safetensors"))
    original = load_file(str(source / "model.safetensors"))
    assert torch.equal(stored["transformer.wte.weight"], original["transformer.wte.weight"])
    manifest = json.loads((out / "quantization.json").read_text())["tensors"]
    c_attn = original["transformer.h.0.attn.c_attn.weight"]  # [in, out]: one scale per output column
    assert manifest["transformer.h.0.attn.c_attn.weight"]["transposed"] is True
    assert stored["transformer.h.0.attn.c_attn.weight.scale"].numel() == c_attn.shape[1]
    scales = c_attn.abs().amax(dim=0) / 127
    assert torch.allclose(stored["transformer.h.0.attn.c_attn.weight.scale"].float().reshape(-1), scales, rtol=2e-3)
    assert "lm_head.weight" not in stored or torch.equal(stored["lm_head.weight"], original["transformer.wte.weight"])
    assert generates(out, capsys).strip()


def test_a_sharded_folder_is_read_as_one_state_dict(tmp_path, capsys, studio_home):
    from transformers import AutoModelForCausalLM

    source = tiny_hf_model(tmp_path / "llama", family="llama")
    sharded = tmp_path / "sharded"
    AutoModelForCausalLM.from_pretrained(source).save_pretrained(sharded, max_shard_size="40KB")
    for f in source.iterdir():
        if not f.name.endswith(".safetensors") and not (sharded / f.name).exists():
            shutil.copy2(f, sharded / f.name)
    assert (sharded / "model.safetensors.index.json").is_file() and not (sharded / "model.safetensors").exists()
    out = tmp_path / "sharded-int8"
    assert quantize(sharded, out) == 0
    assert len(report_of(capsys)["layers"]) == 2 * 7  # q, k, v, o, gate, up, down in each of 2 layers
    assert generates(out, capsys).strip()


def test_a_pickle_only_folder_is_refused(tmp_path, capsys, studio_home):
    source = tiny_hf_model(tmp_path / "llama", family="llama")
    state = load_file(str(source / "model.safetensors"))
    (source / "model.safetensors").unlink()
    torch.save(state, source / "pytorch_model.bin")
    out = tmp_path / "out"
    capsys.readouterr()
    assert quantize(source, out) == 2
    assert "pickle" in capsys.readouterr().err
    assert not out.exists()


def test_a_quantized_model_is_named_by_its_source():
    from pathlib import Path

    from studio_quantizer.quantized_models import _origin

    assert _origin(Path("/cache/hub/models--Qwen--Qwen2-0.5B/snapshots/0123abc")) == "Qwen/Qwen2-0.5B"
    assert _origin(Path("/ws/models/tiny-gpt2")) == "tiny-gpt2"
    assert _origin(Path("/ws/runs/run-1/checkpoints/final")) == "run-1"
