"""LoRA and full fine-tuning of Hugging Face models (issue 19): chat-formatted prompt/response
pairs with the loss on the reply only, checkpoints that hold the adapters and name their
base, Generate from such a run, and the merge into a folder ``transformers`` opens alone.
Tiny random models built from configs (``studio.testing.tiny_hf_model``): no download."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import studio_trainer.hooks as trainer_hooks
from studio.api import Log, RunStatus, Span
from studio.testing import tiny_hf_model
from studio_trainer.config import MergeParams, TrainParams
from studio_trainer.data.batches import PairBatches
from studio_trainer.data.chat import encode_pairs
from studio_trainer.train.checkpoint import CheckpointError, load_checkpoint
from studio_trainer.train.loop import train

COLOURS = ["red", "green", "blue", "yellow", "black"]
PAIRS = [{"prompt": f"What colour is thing {i}?", "response": f"Thing {i} is {COLOURS[i % 5]}."} for i in range(20)]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {family: tiny_hf_model(root / family, family, context=64) for family in ("llama", "gpt2")}


@pytest.fixture
def pairs(tmp_path) -> Path:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in PAIRS), encoding="utf-8")
    return path


def settings(base: Path, corpus: Path, **overrides) -> TrainParams:
    params = {
        "init_from": str(base),
        "lora": {"rank": 8, "alpha": 16},
        "data": {"corpus": str(corpus), "format": "prompt_response", "val_fraction": 0.2},
        "max_steps": 24,
        "batch_size": 4,
        "learning_rate": 1e-2,
        "min_lr": 1e-3,
        "warmup_steps": 2,
        "log_interval": 4,
        "eval_interval": 12,
        "eval_iters": 2,
        "sample_interval": 24,
        "sample_tokens": 6,
        "sample_prompt": "What colour is thing 3?",
        "checkpoint_interval": 12,
        **overrides,
    }
    return TrainParams.model_validate(params)


def logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(ids, ids)[0]


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_lora_fine_tune_checkpoint_generate_and_merge(
    family, models, pairs, job_context, make_studio, run_job, tmp_path
):
    from transformers import AutoModelForCausalLM

    from studio_trainer.jobs import merge_lora

    ctx = job_context(family)
    result = train(settings(models[family], pairs), ctx)
    losses = [v for _, v in ctx.metrics("train/loss")]
    assert len(losses) == 6 and losses[-1] < losses[0] - 0.1, losses
    assert ctx.metrics("val/loss") and ctx.metrics("val/bpb")
    logs = "\n".join(e.text for e in ctx.of_kind(Log))
    targets = "q_proj, k_proj, v_proj, o_proj" if family == "llama" else "attn.c_attn, attn.c_proj"
    assert f"for {family} they are {targets}" in logs  # the studio's default targets, translated
    assert "rendered with the model's chat template" in logs
    (sample,) = [e for e in ctx.of_kind(Span) if e.span_kind == "sample"]  # asked as a user's turn
    assert sample.record["step"] == 24 and isinstance(sample.outputs["text"], str)

    best = Path(result["checkpoint"])
    config = json.loads((best / "config.json").read_text())
    assert config["base"] == str(models[family].resolve()) and config["lora"]["targets"] == targets.split(", ")
    adapters = load_file(str(best / "adapter.safetensors"))
    assert adapters and all(k.endswith((".lora_A", ".lora_B")) for k in adapters)  # the adapters only
    assert not (best / "model.safetensors").exists()
    assert len(adapters) == 2 * 2 * len(config["lora"]["targets"])  # A and B, per target and layer

    adapted, tokenizer, loaded = load_checkpoint(best, dtype="float32")
    base, _, _ = load_checkpoint(models[family], dtype="float32")
    ids = torch.tensor([tokenizer.encode(tokenizer.chat([{"role": "user", "content": "What colour is thing 3?"}]))])
    assert not torch.allclose(logits(adapted, ids), logits(base, ids), atol=1e-3)  # the run changed the model
    assert "LoRA on" in loaded["loaded_as"]

    studio = make_studio(("trainer", trainer_hooks))  # the run's checkpoint generates as any checkpoint
    job = run_job(studio, "trainer.generate", {"checkpoint": str(best), "prompt": "What", "max_new_tokens": 4})
    assert job.status == RunStatus.SUCCEEDED, job.error
    assert job.result["text"]
    # as a model of a workflow (studio/<checkpoint>), the fine-tune reads its turns through its template
    from studio_trainer.provider import complete

    reply = complete(f"studio/{best}", [{"role": "user", "content": "What colour?"}], max_tokens=3, temperature=0)
    assert reply["studio_tokens"]["prompt"].startswith("<|im_start|>user\nWhat colour?<|im_end|>")

    out = merge_lora(MergeParams(checkpoint=str(best), output=str(tmp_path / "merged")), job_context("merge"))
    assert out["merged_layers"] == len(adapters) // 2 and out["format"] == "huggingface"
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", local_files_only=True)
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, logits(adapted, ids), atol=1e-4, rtol=1e-4)
    assert (tmp_path / "merged" / "tokenizer.json").exists()
    again, _, _ = load_checkpoint(tmp_path / "merged", dtype="float32")  # and it is a Hugging Face folder
    torch.testing.assert_close(logits(again, ids), logits(adapted, ids), atol=1e-4, rtol=1e-4)
    with pytest.raises(CheckpointError, match="exists; choose another output"):
        merge_lora(MergeParams(checkpoint=str(best), output=str(tmp_path / "merged")), job_context("merge2"))


def test_chat_rendering_masks_the_prompt_and_keeps_the_reply(models):
    from studio_trainer.hf.tokenizer import HFTokenizer

    tokenizer = HFTokenizer.load(models["llama"])
    raw = [(p["prompt"], p["response"]) for p in PAIRS[:3]]
    notes: list[str] = []
    encoded, chars = encode_pairs(tokenizer, raw, True, notes.append)
    prompt_ids, reply_ids = encoded[0]
    head = tokenizer.decode(prompt_ids)
    assert head.endswith("<|im_start|>assistant\n") and "What colour is thing 0?" in head
    assert tokenizer.decode(reply_ids).startswith("Thing 0 is red.<|im_end|>")
    assert chars[0] == len(tokenizer.decode(prompt_ids + reply_ids))
    x, y = PairBatches(encoded[:1], 1, 64, tokenizer.eos_id, 0).next()
    n = len(prompt_ids)
    assert (y[0, : n - 1] == -100).all()  # the prompt's tokens are not learned
    assert y[0, n - 1 :].tolist() == reply_ids  # every reply token is, from the first one on
    assert x[0].tolist() == (prompt_ids + reply_ids)[:-1]

    plain, _ = encode_pairs(tokenizer, raw, False, notes.append)  # no template asked: text + end of text
    assert plain[0] == (tokenizer.encode(raw[0][0]), tokenizer.encode(raw[0][1]) + [tokenizer.eos_id])


def test_a_template_whose_prompt_is_not_a_prefix_falls_back_to_plain_text(models, monkeypatch):
    from studio_trainer.hf.tokenizer import HFTokenizer

    tokenizer = HFTokenizer.load(models["llama"])
    rendered = tokenizer.chat
    # a template that stamps something different into each rendering (a date, say)
    monkeypatch.setattr(
        tokenizer, "chat", lambda m, add_generation_prompt=True: f"{len(m)}|" + rendered(m, add_generation_prompt)
    )
    notes: list[str] = []
    encoded, _ = encode_pairs(tokenizer, [("hi", "there")], True, notes.append)
    assert encoded == [(tokenizer.encode("hi"), tokenizer.encode("there") + [tokenizer.eos_id])]
    assert "1 of 1 pairs joined plainly" in notes[0]


def test_lora_wraps_gpt2_conv1d_and_merges_exactly(models):
    from studio_trainer.hf.load import load_hf
    from studio_trainer.model.lora import LoRALinear, apply_lora, merge_lora

    model, _, _ = load_hf(models["gpt2"], "cpu", "float32")
    ids = torch.randint(0, model.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
    before = logits(model, ids)
    wrapped = apply_lora(model, 4, 8.0, ["attn.c_attn", "attn.c_proj"])
    assert wrapped == [f"transformer.h.{i}.attn.{n}" for i in range(2) for n in ("c_attn", "c_proj")]
    torch.testing.assert_close(logits(model, ids), before)  # B starts at zero
    layer = model.hf.transformer.h[0].attn.c_attn
    assert isinstance(layer, LoRALinear) and layer.lora_A.shape == (4, 32) and layer.lora_B.shape == (96, 4)
    torch.manual_seed(1)
    for module in model.modules():
        if isinstance(module, LoRALinear):
            torch.nn.init.normal_(module.lora_B, std=0.1)
    x = torch.randn(3, 32)
    weight, bias = layer.base.weight, layer.base.bias
    assert isinstance(weight, torch.Tensor) and isinstance(bias, torch.Tensor)
    expected = x @ weight + bias + (x @ layer.lora_A.t() @ layer.lora_B.t()) * 2.0
    torch.testing.assert_close(layer(x), expected)  # Conv1D's weight is [in, out]
    adapted = logits(model, ids)
    assert not torch.allclose(adapted, before, atol=1e-3)
    assert merge_lora(model) == 4
    torch.testing.assert_close(logits(model, ids), adapted, atol=1e-5, rtol=1e-4)


def test_full_fine_tune_and_resume_of_a_hugging_face_model(models, job_context, tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 60, encoding="utf-8")
    first = job_context("full")
    params = settings(
        models["llama"],
        text,
        lora=None,
        data={"corpus": str(text)},
        model={"block_size": 32},
        max_steps=8,
        log_interval=4,
        eval_interval=4,
        sample_interval=0,
        checkpoint_interval=4,
        learning_rate=3e-3,
    )
    train(params, first)
    step8 = first.run_dir / "checkpoints" / "step-000008"
    config = json.loads((step8 / "config.json").read_text())
    assert config["lora"] is None and config["model"]["block_size"] == 32 and (step8 / "model.safetensors").exists()
    model, _, _ = load_checkpoint(step8, dtype="float32")
    base, _, _ = load_checkpoint(models["llama"], dtype="float32")
    ids = torch.tensor([[5, 6, 7, 8]])
    assert not torch.allclose(logits(model, ids), logits(base, ids), atol=1e-4)
    from transformers import AutoModelForCausalLM

    from studio_trainer.jobs import merge_lora

    out = merge_lora(MergeParams(checkpoint=str(step8), output=str(tmp_path / "exported")), job_context("export"))
    assert out["merged_layers"] == 0  # nothing to merge: the fine-tuned weights, as a Hugging Face folder
    exported = AutoModelForCausalLM.from_pretrained(tmp_path / "exported", local_files_only=True)
    with torch.no_grad():
        torch.testing.assert_close(exported(ids).logits, logits(model, ids), atol=1e-4, rtol=1e-4)

    resumed = job_context("resumed")
    train(TrainParams.model_validate({"resume": str(step8), "max_steps": 12}), resumed)
    assert [s for s, _ in resumed.metrics("train/loss")] == [4, 8, 12]  # the earlier curve, continued
    again = json.loads((resumed.run_dir / "checkpoints" / "step-000012" / "config.json").read_text())
    assert again["base"] == config["base"]  # still built on the Hugging Face folder


def test_a_lora_run_resumes_and_a_checkpoint_whose_base_is_gone_says_so(models, pairs, job_context, tmp_path):
    import shutil

    base = shutil.copytree(models["llama"], tmp_path / "base")
    ctx = job_context()
    train(settings(base, pairs, max_steps=4, eval_interval=4, checkpoint_interval=4, sample_interval=0), ctx)
    step4 = ctx.run_dir / "checkpoints" / "step-000004"
    resumed = job_context("resumed")
    train(TrainParams.model_validate({"resume": str(step4), "max_steps": 8}), resumed)
    assert [s for s, _ in resumed.metrics("train/loss")] == [4, 8]
    step8 = resumed.run_dir / "checkpoints" / "step-000008"
    assert set(load_file(str(step8 / "adapter.safetensors"))) == set(load_file(str(step4 / "adapter.safetensors")))

    shutil.rmtree(base)
    with pytest.raises(CheckpointError, match="which is not there any more"):
        load_checkpoint(step8)
    for folder, other in ((step4, step8), (step8, step4)):  # each names the other as its base: a loop
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "base": str(other)}))
    with pytest.raises(CheckpointError, match="leads back to this checkpoint"):
        load_checkpoint(step8)


def test_bf16_autocast_and_checkpointing_train_a_bf16_model_that_merges_back_in_bf16(pairs, job_context, tmp_path):
    from transformers import AutoModelForCausalLM

    from studio_trainer.jobs import merge_lora

    base = tiny_hf_model(tmp_path / "qwen2", "qwen2", context=64, dtype="bfloat16")
    ctx = job_context()
    params = settings(base, pairs, max_steps=4, eval_interval=4, checkpoint_interval=4, sample_interval=0)
    result = train(params.model_copy(update={"precision": "bf16", "grad_checkpointing": True}), ctx)
    assert all(
        v is not None and math.isfinite(v) for _, v in ctx.metrics("train/loss")
    )  # finite, trained in float32 masters
    assert (
        load_file(str(Path(result["checkpoint"]) / "adapter.safetensors"))[
            "model.layers.0.self_attn.q_proj.lora_A"
        ].dtype
        == torch.float32
    )
    merge_lora(MergeParams(checkpoint=result["checkpoint"], output=str(tmp_path / "merged")), job_context("merge"))
    assert (
        json.loads((tmp_path / "merged" / "config.json").read_text())["dtype"] == "bfloat16"
    )  # as the base was stored
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", local_files_only=True)
    assert merged.dtype == torch.bfloat16


def test_lora_targets_that_name_nothing_are_one_line_with_the_candidates(models, pairs, job_context):
    from studio_trainer.train.loop import TrainingError

    params = settings(models["llama"], pairs, lora={"targets": ["attn.qkv", "mlp.fc"]})
    with pytest.raises(TrainingError, match="no linear layer matches") as caught:
        train(params, job_context())
    message = str(caught.value)
    assert "\n" not in message and "self_attn.q_proj" in message and "mlp.down_proj" in message
