"""The Inspector on Hugging Face models (tiny random GPT-2, Llama with grouped-query
attention and RMSNorm, Qwen2): the same views as a studio model, checked against the
model's own forward pass and transformers' eager attention."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from studio.testing import run_cli, tiny_hf_model
from studio_trainer.hf.load import load_hf
from studio_trainer.inspect import HeadAblation, LayerAblation, ResidualPatch, inspect_ids, inspect_record, intervene
from studio_trainer.inspect.inspection import InspectError
from studio_trainer.inspect.load import model_ref
from studio_trainer.inspect.program import applied, load_program, save_program
from studio_trainer.inspect.steering import Steering, steering_between

FAMILIES = ("gpt2", "llama", "qwen2")
TEXT = "To be, or not to be, that is the question"


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {family: tiny_hf_model(root / family, family) for family in FAMILIES}


@pytest.fixture(scope="module")
def loaded(folders) -> dict[str, tuple]:
    return {family: load_hf(folder, "cpu", "float32")[:2] for family, folder in folders.items()}


def own_logprobs(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        logits = model.hf(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
    return F.log_softmax(logits.float(), dim=-1)


@pytest.mark.parametrize("family", FAMILIES)
def test_lens_attention_and_attribution_match_the_model(loaded, folders, family):
    from transformers import AutoModelForCausalLM

    model, tok = loaded[family]
    ids = tok.encode(TEXT)
    inspection = inspect_ids(model, tok, ids, attention="all")
    assert inspection.unavailable == [] and inspection.n_layer == 2 and inspection.n_head == 4
    # the lens at the last layer is the model's own prediction
    logp = own_logprobs(model, ids)
    expected = logp[:-1].gather(1, torch.tensor(ids[1:]).unsqueeze(1)).squeeze(1).numpy()
    np.testing.assert_allclose(inspection.logprobs[1:], expected, atol=1e-4)
    assert inspection.top_ids[-1, 0] == int(logp[-1].argmax())
    # attention: every layer and head, rows sum to 1, causal, equal to eager attention's own maps
    maps = inspection.attention_all()
    T = len(ids)
    assert maps.shape == (2, 4, T, T)
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-5)
    assert np.abs(np.triu(maps, 1)).max() == 0.0
    eager = AutoModelForCausalLM.from_pretrained(folders[family], attn_implementation="eager", dtype=torch.float32)
    with torch.no_grad():
        reference = eager(input_ids=torch.tensor([ids]), output_attentions=True).attentions
    np.testing.assert_allclose(maps, torch.stack(reference)[:, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(inspection.layer_attention(1), maps[1], atol=1e-6)  # computed lazily alike
    # attribution: the parts sum to the logit (LayerNorm for gpt2, RMSNorm for llama and qwen2)
    a = inspection.attribution
    assert a is not None and a["heads"].shape == (2, 4, T)
    with torch.no_grad():
        logits = model.hf(input_ids=torch.tensor([ids]), use_cache=False).logits[0]
    logit = logits.gather(1, torch.from_numpy(a["target_ids"]).unsqueeze(1)).squeeze(1).numpy()
    total = a["embed"] + a["attn"].sum(0) + a["mlp"].sum(0) + a["bias"]
    scale = np.abs(logit).max()
    np.testing.assert_allclose(total, logit, atol=1e-4 * scale)
    np.testing.assert_allclose(a["heads"].sum(1) + a["attn_bias"], a["attn"], atol=1e-4 * scale)
    assert model.norm_kind == ("layer" if family == "gpt2" else "rms")
    # activations: each layer's histogram by the layer re-run with its positions
    counts, edges = inspection.mlp_hist[1]
    hidden = model.blocks[1].mlp.proj.weight.numel() // model.config.n_embd  # a Linear or GPT-2's Conv1D
    assert counts.sum() == T * hidden and len(edges) == 65
    assert inspection.mlp_norm.shape == (2, T) and inspection.resid_norm.shape == (3, T)
    # the Code view shows transformers' class
    file, line, name = inspection.code_location(0, "attn")
    assert f"models/{family}/modeling_{family}.py" in file and line > 0 and "Attention" in name


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_interventions(loaded, family):
    model, tok = loaded[family]
    ids = tok.encode(TEXT)
    inspection = inspect_ids(model, tok, ids)
    nothing = intervene(inspection, [], position=5)
    assert nothing.kl == 0.0 and nothing.delta == 0.0
    same = intervene(inspection, [ResidualPatch(1, 5, TEXT)], position=5)
    assert same.kl < 1e-9 and abs(same.delta) < 1e-6
    head = intervene(inspection, [HeadAblation(1, 1)], position=5)
    assert head.kl > 0.0 and head.delta != 0.0
    # zeroing a head is zeroing its columns of the output projection
    proj = model.blocks[1].attn.proj
    D = model.config.n_embd // 4
    columns = proj.weight.T if family == "gpt2" else proj.weight  # GPT-2's Conv1D stores [in, out]
    kept = columns[:, D : 2 * D].clone()
    with torch.no_grad():
        columns[:, D : 2 * D] = 0
        expected = own_logprobs(model, ids)[5, ids[6]]
        columns[:, D : 2 * D] = kept
    assert abs(head.logprob_after - float(expected)) < 1e-4
    for item in (HeadAblation(0, 2, "mean"), LayerAblation(0, "attn"), LayerAblation(1, "mlp", "mean")):
        assert intervene(inspection, [item], position=5).kl > 0.0, item
    assert intervene(inspection, [LayerAblation(0, "block")], position=5).kl > 0.0
    other = "Whether tis nobler"
    patched = intervene(inspection, [ResidualPatch(2, -1, other)])
    source = own_logprobs(model, tok.encode(other))[-1]
    assert abs(patched.top_after[0][1] - float(source.max().exp())) < 1e-5
    steer = steering_between(model, tok, TEXT, other, layer=0, scale=4.0)
    assert intervene(inspection, [steer], position=5).kl > 0.0
    zero = Steering(0, torch.zeros(model.config.n_embd))
    assert intervene(inspection, [zero], position=5).kl == 0.0
    with pytest.raises(InspectError, match="out of range"):
        intervene(inspection, [HeadAblation(0, 4)])


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_a_program_applies_while_generating_with_the_cache(loaded, family):
    model, tok = loaded[family]
    prompt = torch.tensor([tok.encode(TEXT)])
    plain = model.generate(prompt, 8, temperature=0.0)
    steer = Steering(1, torch.randn(model.config.n_embd, generator=torch.Generator().manual_seed(0)), 20.0)
    program = [HeadAblation(1, 0), LayerAblation(0, "mlp"), steer]
    with applied(model, program):
        cached = model.generate(prompt, 8, temperature=0.0)
        whole = model.generate(prompt, 8, temperature=0.0, use_cache=False)
    assert cached.tolist() == whole.tolist()  # each position changed alone: the cache is right
    assert cached.tolist() != plain.tolist()
    assert model.generate(prompt, 8, temperature=0.0).tolist() == plain.tolist()  # the hooks are gone


def test_a_saved_program_with_stored_means(loaded, tmp_path):
    model, tok = loaded["qwen2"]
    ids = tok.encode(TEXT)
    items = [HeadAblation(1, 2, "mean"), LayerAblation(0, "attn", "mean"), LayerAblation(1, "block", "mean")]
    program = load_program(save_program(tmp_path / "p.json", items, model, ids=ids))
    program.check(model)
    assert sorted(program.means) == [0, 1, 2] and program.means[1].shape == (model.config.n_embd,)
    prompt = torch.tensor([ids])
    plain = model.generate(prompt, 6, temperature=0.0)
    with applied(model, program):
        cached = model.generate(prompt, 6, temperature=0.0)
        whole = model.generate(prompt, 6, temperature=0.0, use_cache=False)
    assert cached.tolist() == whole.tolist() != plain.tolist()


def test_a_provider_record_is_inspected_and_checked(loaded, folders):
    from studio_trainer.provider import token_record
    from studio_trainer.train.sampling import sample_with_record

    model, tok = loaded["llama"]
    sample = sample_with_record(model, tok, TEXT, 6, 0.0, None, seed=0)
    record = token_record(f"hf/{folders['llama']}", tok, sample)
    assert model_ref(record.model) == str(folders["llama"])
    inspection = inspect_record(record)
    assert inspection.reply_start == len(sample.prompt_ids)
    ok, message = inspection.check_record(record)
    assert ok, message


def test_a_record_made_in_bfloat16_checks_within_its_rounding(folders):
    """The hf/ provider and Generate compute in bfloat16 where the CPU has it ("auto"); the
    Inspector recomputes in float32, so the check allows for bfloat16's rounding, says so,
    and names the model the same whatever its prefix."""
    from studio_trainer.hf.load import load_hf
    from studio_trainer.provider import compute_dtype, token_record
    from studio_trainer.train.sampling import sample_with_record

    model, tok, _ = load_hf(folders["llama"], "cpu", "bfloat16")
    assert compute_dtype(model) == "bfloat16"
    sample = sample_with_record(model, tok, TEXT, 8, 0.0, None)
    record = token_record(f"hf/{folders['llama']}", tok, sample, sampling={"dtype": "bfloat16"})
    inspection = inspect_record(record)
    ok, message = inspection.check_record(record)
    assert ok and "recorded in bfloat16, recomputed in float32" in message, message
    record.sampling = {"dtype": "float32"}  # claimed float32: bfloat16's rounding is a mismatch
    ok, message = inspection.check_record(record)
    if not ok:  # (a tiny model's bfloat16 log-probabilities may still fall within 1e-3)
        assert "do NOT match" in message and "the record is of" not in message  # hf/<folder> is this folder


def test_cli_inspects_a_folder(studio_home, folders, tmp_path, capsys):
    folder = folders["qwen2"]
    assert run_cli(["inspect", str(folder), "--text", TEXT, "--top-k", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["attention_shape"][:2] == [2, 4] and len(data["logit_lens"]) == 3
    remote = tmp_path / "remote"
    remote.mkdir()
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_x.X"}
    (remote / "config.json").write_text(json.dumps(config))
    (remote / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    for bad in (remote, tmp_path / "no-such-folder"):
        assert run_cli(["inspect", str(bad), "--text", TEXT]) == 2, bad
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
