"""Hugging Face causal LMs in the quantizer (issue 19): int8 and int4 on the Linear layers,
the loss and speed measured through the trainer's loader (the ``studio_model_loaders``
hook), sharded weights read as one, GPT-2's Conv1D and tied head, and the quantized folder
opening again to generate. Tiny random models: no download."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import studio_trainer.hooks as trainer_hooks
from studio.api import RunStatus
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


def test_int4_groups_of_llama_reopen_in_the_generate_job(models, tmp_path, capsys, make_studio, run_job):
    out = tmp_path / "llama-int4"
    report = quantize(
        models["llama"], "--bits", 4, "--granularity", "group", "--group-size", 16, "--out", out, capsys=capsys
    )
    assert report["summary"]["bits_per_weight"] == pytest.approx(4 + 16 / 16)
    studio = make_studio(("trainer", trainer_hooks))
    job = run_job(studio, "trainer.generate", {"checkpoint": str(out), "prompt": "To be", "max_new_tokens": 4})
    assert job.status == RunStatus.SUCCEEDED, job.error


def test_gpt2_conv1d_layers_and_its_tied_head(models, text, tmp_path, capsys):
    out = tmp_path / "gpt2-int8"
    report = quantize(models["gpt2"], "--out", out, "--measure", text, "--repeats", 2, capsys=capsys)
    names = {row["name"] for row in report["layers"]}
    assert "transformer.h.0.attn.c_attn.weight" in names and "transformer.wte.weight" not in names
    assert "dynamic_int8" in report["measured"]  # the Conv1D layers run in float there, quantized values
    model, _, _ = load_hf(out, "cpu", "float32")
    assert model.lm_head.weight is model.hf.transformer.wte.weight  # the head is still the embedding
    original, _, _ = load_hf(models["gpt2"], "cpu", "float32")
    assert torch.equal(model.lm_head.weight, original.lm_head.weight)  # kept in full precision


def test_sharded_weights_quantize_as_one(models, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    sharded = tmp_path / "sharded"
    AutoModelForCausalLM.from_pretrained(models["llama"]).save_pretrained(sharded, max_shard_size="40KB")
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(models["llama"] / name, sharded / name)
    assert (sharded / "model.safetensors.index.json").exists() and not (sharded / "model.safetensors").exists()
    whole = quantize(models["llama"], "--out", tmp_path / "a", capsys=capsys)
    split = quantize(sharded, "--out", tmp_path / "b", capsys=capsys)
    assert [r["name"] for r in split["layers"]] and sorted(r["name"] for r in split["layers"]) == sorted(
        r["name"] for r in whole["layers"]
    )


def test_a_pickle_only_folder_is_refused_and_never_unpickled(models, tmp_path, capsys):
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(models["llama"], folder)
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    assert run_cli(["quantize", str(folder), "--out", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err
    assert "pytorch_model.bin" in err and "never unpickled" in err and not (tmp_path / "q").exists()
