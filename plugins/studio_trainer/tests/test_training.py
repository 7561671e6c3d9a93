"""The training loop on tiny configs: metrics, checkpoints, exact resume, accumulation,
mixed precision, LoRA, distillation, fine-tuning data, and what bad input does."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file

from studio.api import JobCancelled, Log, Span
from studio_trainer.config import ModelConfig, TrainParams
from studio_trainer.model.gpt import GPT
from studio_trainer.train.checkpoint import load_checkpoint
from studio_trainer.train.device import autocast
from studio_trainer.train.loop import TrainingError, distillation_loss, make_optimizer, train, train_step

from .helpers import loss_at, tiny


def run(ctx, corpus, **overrides):
    return train(TrainParams.model_validate(tiny(corpus, **overrides)), ctx)


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_a_run_reports_metrics_samples_and_checkpoints(job_context, corpus):
    ctx = job_context()
    # warmup and validation meant for a longer run: shortened to fit 40 steps, and said so
    result = run(ctx, corpus, max_steps=40, sample_interval=20, sample_tokens=12, warmup_steps=100, eval_interval=100)
    losses = [v for _, v in ctx.metrics("train/loss")]
    assert [s for s, _ in ctx.metrics("train/loss")] == [5, 10, 15, 20, 25, 30, 35, 40]
    lrs = dict(ctx.metrics("lr"))  # warmup over 4 steps: the 5th is at the peak, then the cosine decays
    assert math.isclose(lrs[5], 3e-3, rel_tol=1e-9) and lrs[5] > lrs[20] > lrs[40]
    assert [s for s, _ in ctx.metrics("val/loss")] == [10, 20, 30, 40]
    (line,) = [e for e in ctx.of_kind(Log) if e.text.startswith("schedule:")]
    assert line.level == "warning" and "warmup_steps 100 shortened to 4" in line.text
    assert "validation every 10 steps on 2 batches" in line.text
    assert losses[-1] < losses[0] - 0.5
    for name in ("val/loss", "val/bpc", "val/ppl", "lr", "grad_norm", "tokens_per_s"):
        assert ctx.metrics(name), name
    val = ctx.metrics("val/loss")[-1][1]
    assert math.isclose(ctx.metrics("val/bpc")[-1][1], val / math.log(2), rel_tol=1e-6)  # char level: 1 char per token
    assert math.isclose(ctx.metrics("val/ppl")[-1][1], math.exp(val), rel_tol=1e-6)
    samples = [e for e in ctx.of_kind(Span) if e.span_kind == "sample"]
    assert [s.record["step"] for s in samples] == [20, 40] and all(len(s.outputs["text"]) > 0 for s in samples)
    folder = ctx.run_dir / "checkpoints"
    assert json.loads((folder / "latest.json").read_text()) == {"path": "step-000040", "step": 40}
    assert sorted(p.name for p in folder.iterdir()) == ["best", "latest.json", "step-000030", "step-000040"]
    for name in ("model.safetensors", "config.json", "tokenizer.json", "train_state.safetensors", "train_state.json"):
        assert (folder / "step-000040" / name).exists()
    config = json.loads((folder / "best" / "config.json").read_text())
    assert config["val_loss"] == result["best_val_loss"] == min(v for _, v in ctx.metrics("val/loss"))
    assert any("model summary" in e.text for e in ctx.of_kind(Log))
    model, tok, _ = load_checkpoint(folder / "best")
    assert model.config.vocab_size == tok.vocab_size


def test_accumulating_k_micro_batches_equals_one_k_times_larger_batch():
    """k micro-batches accumulate the same (clipped) gradient as one batch k times larger,
    and AdamW then takes the same step. Float32 sums run in a different order in each
    case (and per CPU kernel: AVX-512, AMX, AVX2), so nothing is compared bit for bit:
    the gradients within a tolerance derived from float32 rounding, and the weights within
    what that gradient tolerance can move AdamW's first step, lr * g / (|g| + eps) — a
    lot for |g| near eps, nearly nothing for the rest."""
    torch.manual_seed(0)
    config = ModelConfig(n_layer=2, n_head=2, n_embd=16, block_size=8, vocab_size=13)
    x = torch.randint(0, 13, (8, 8))
    y = torch.randint(0, 13, (8, 8))
    y[0, :5] = -100  # masked targets weigh each micro-batch by its counted tokens
    results = []
    for k in (1, 4):
        torch.manual_seed(1)
        model = GPT(config)
        params = TrainParams(model=config, learning_rate=1e-2)
        optimizer = make_optimizer(model, params, "cpu")
        grads: list[torch.Tensor] = []
        optimizer.register_step_pre_hook(
            lambda opt, *_, grads=grads, model=model: grads.append(
                torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
            )
        )
        micro = list(zip(x.chunk(k), y.chunk(k), strict=True))
        loss, norm = train_step(model, optimizer, micro, grad_clip=1.0, amp=autocast("cpu", "fp32"))
        weights = torch.cat([p.detach().flatten() for p in model.parameters()])
        group = optimizer.param_groups[0]
        results.append((grads[0], weights, float(loss), float(norm), group["lr"], group["eps"]))
    (g1, w1, l1, n1, lr, eps), (g4, w4, l4, n4, _, _) = results
    assert math.isclose(l1, l4, rel_tol=1e-5) and math.isclose(n1, n4, rel_tol=1e-4)
    # a few hundred float32 terms per sum: rounding stays far below 1e-5 of the largest gradient
    grad_tol = 1e-4 * g1.abs() + 1e-5 * g1.abs().max()
    assert ((g4 - g1).abs() <= grad_tol).all()
    nearest_zero = (g1.abs() - grad_tol).clamp(min=0)  # where the step is most sensitive to g
    step_tol = lr * torch.clamp(eps * grad_tol / (nearest_zero + eps) ** 2, max=2.0)
    assert ((w4 - w1).abs() <= step_tol + 1e-7).all()
    # and the check is tight for most weights (the loose rest have gradients near zero:
    # embedding rows of tokens the batch lacks, for one)
    assert (step_tol < 1e-6).float().mean() > 0.75


def straight_and_resumed(job_context, corpus, settings: dict):
    """Run 20 steps straight through; and run them again cancelled at step 10 and resumed.
    Returns (straight, resumed) contexts and both runs' step-20 weights."""
    straight = job_context("straight")
    run(straight, corpus, **settings)
    first = job_context("first")
    first.cancel_when(loss_at(10))
    with pytest.raises(JobCancelled):
        run(first, corpus, **settings)
    assert json.loads((first.run_dir / "checkpoints" / "latest.json").read_text())["step"] == 10
    second = job_context("second")
    run(second, corpus, **settings, resume="first")
    a = weights(straight.run_dir / "checkpoints" / "step-000020")
    b = weights(second.run_dir / "checkpoints" / "step-000020")
    return straight, second, a, b


def test_resume_continues_exactly_where_a_cancelled_run_stopped(job_context, corpus):
    settings = {"max_steps": 20, "model": {"dropout": 0.1}, "grad_accum": 2}  # dropout: the RNG must be restored
    straight, second, a, b = straight_and_resumed(job_context, corpus, settings)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the curve continues: steps 5..10 replayed from the first run, then 15, 20 trained here
    assert [s for s, _ in second.metrics("train/loss")] == [5, 10, 15, 20]
    assert second.metrics("train/loss") == straight.metrics("train/loss")


def test_runs_that_stopped_early_are_offered_for_resume_until_resumed(job_context, corpus):
    from studio_trainer.resumable import ResumableRun, resumable_runs

    done = job_context("done")
    run(done, corpus, max_steps=10)
    runs = done.folders.runs
    early = job_context("early")
    early.cancel_when(loss_at(10))
    with pytest.raises(JobCancelled):
        run(early, corpus, max_steps=20)
    broken = done.folders.run_dir("broken") / "checkpoints"
    broken.mkdir(parents=True)
    (broken / "latest.json").write_text("{not json")
    assert resumable_runs(runs) == [ResumableRun("early", 10, 20)]  # not the finished run, not the unreadable one
    run(job_context("later"), corpus, max_steps=20, resume="early")
    assert resumable_runs(runs) == []  # resumed, and the resumed run finished


def test_bf16_mixed_precision_trains_on_the_cpu(job_context, corpus):
    ctx = job_context()
    run(ctx, corpus, precision="bf16", max_steps=30)
    losses = [v for _, v in ctx.metrics("train/loss")]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    with pytest.raises(TrainingError, match="fp16 training needs CUDA"):
        run(job_context("fp16"), corpus, precision="fp16", device="cpu")


@pytest.mark.skipif(
    not (shutil.which("cc") or shutil.which("gcc")), reason="torch.compile on the CPU needs a C compiler"
)
def test_torch_compile_trains_validates_and_saves_plain_weights(job_context, corpus):
    """Inductor's real CPU kernels, on the smallest model that still has a block: with a cold
    kernel cache (CI's clean clone) tracing and compiling the graphs is most of the test's
    time, and it grows with the layers traced."""
    ctx = job_context()
    model = {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8}
    run(ctx, corpus, model=model, compile=True, max_steps=10, eval_interval=10, checkpoint_interval=10)
    losses = [v for _, v in ctx.metrics("train/loss")]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert ctx.metrics("val/loss")
    saved = weights(ctx.run_dir / "checkpoints" / "step-000010")
    assert not any(k.startswith("_orig_mod.") for k in saved)  # the module is saved, not the compiled wrapper
    load_checkpoint(ctx.run_dir / "checkpoints" / "best")


def test_cuda_graph_compile_modes_refuse_gradient_accumulation(corpus):
    with pytest.raises(ValueError, match="cannot accumulate gradients over micro-batches"):
        TrainParams.model_validate(tiny(corpus, compile=True, compile_mode="reduce-overhead", grad_accum=2))
    TrainParams.model_validate(tiny(corpus, compile=True, compile_mode="reduce-overhead", grad_accum=1))


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_cuda
def test_fp16_with_grad_scaler_on_cuda(job_context, corpus):
    ctx = job_context()
    run(ctx, corpus, precision="fp16", device="cuda", max_steps=30)
    losses = [v for _, v in ctx.metrics("train/loss")]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    state = json.loads((ctx.run_dir / "checkpoints" / "step-000030" / "train_state.json").read_text())
    assert state["step"] == 30
    scale = load_file(str(ctx.run_dir / "checkpoints" / "step-000030" / "train_state.safetensors"))["scaler.scale"]
    assert float(scale) > 0  # the grad scaler's state is saved for resume


@needs_cuda
@pytest.mark.parametrize("mode, accumulate", [("default", 2), ("reduce-overhead", 1)])
def test_compiled_bf16_training_on_cuda_reports_mfu(job_context, corpus, mode, accumulate):
    ctx = job_context()
    run(
        ctx,
        corpus,
        precision="bf16",
        device="cuda",
        compile=True,
        compile_mode=mode,
        grad_accum=accumulate,
        max_steps=30,
    )
    losses = [v for _, v in ctx.metrics("train/loss")]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert all(math.isfinite(v) for _, v in ctx.metrics("val/loss"))
    if any(key in torch.cuda.get_device_name() for key in ("H100", "H200", "A100")):
        assert all(0 < v < 1 for _, v in ctx.metrics("mfu"))


@needs_cuda
def test_resume_on_cuda_restores_the_cuda_rng_and_continues(job_context, corpus):
    settings = {"max_steps": 20, "model": {"dropout": 0.1}, "device": "cuda"}
    _, second, a, b = straight_and_resumed(job_context, corpus, settings)
    # GPU kernels may sum in another order between runs: equal up to rounding, not bit for bit
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)
    assert [s for s, _ in second.metrics("train/loss")] == [5, 10, 15, 20]


def test_gradient_checkpointing_and_xcorr_train(job_context, corpus):
    ctx = job_context()
    run(ctx, corpus, grad_checkpointing=True, model={"attention": "xcorr", "xcorr_lags": 3})
    assert ctx.metrics("val/loss")


def test_lora_fine_tunes_only_adapters_and_merges_back(job_context, corpus, tmp_path):
    from studio_trainer.config import MergeParams
    from studio_trainer.jobs import merge_lora

    base = job_context("base")
    run(base, corpus)
    lora = job_context("lora")
    run(
        lora,
        corpus,
        init_from="base",
        lora={"rank": 4, "alpha": 8, "targets": ["attn.qkv", "mlp.fc"]},
        learning_rate=1e-2,
        min_lr=1e-3,
    )
    base_w = weights(base.run_dir / "checkpoints" / "step-000020")
    lora_w = weights(lora.run_dir / "checkpoints" / "step-000020")
    adapters = [k for k in lora_w if "lora_" in k]
    assert len(adapters) == 2 * 2 * 2  # A and B, two targets, two layers
    for key, value in base_w.items():  # frozen base weights are untouched
        lora_key = key.replace("attn.qkv.", "attn.qkv.base.").replace("mlp.fc.", "mlp.fc.base.")
        assert torch.equal(value, lora_w[lora_key]), key
    assert any(lora_w[k].abs().sum() > 0 for k in adapters if "lora_B" in k)
    assert lora.metrics("train/loss")[-1][1] < lora.metrics("train/loss")[0][1]

    merged_ctx = job_context("merge")
    out = merge_lora(
        MergeParams(checkpoint=str(lora.run_dir / "checkpoints" / "step-000020"), output=str(tmp_path / "merged")),
        merged_ctx,
    )
    assert out["merged_layers"] == 4
    adapted, tok, _ = load_checkpoint(lora.run_dir / "checkpoints" / "step-000020")
    merged, _, config = load_checkpoint(tmp_path / "merged")
    assert config["lora"] is None and not any("lora_" in k for k in weights(tmp_path / "merged"))
    idx = torch.tensor([tok.encode("First Citizen:\nBefore")[:16]])
    # W + BA, summed in another order
    torch.testing.assert_close(merged(idx, idx)[0], adapted(idx, idx)[0], rtol=1e-4, atol=1e-5)
    with pytest.raises(Exception, match="exists; choose another output"):
        merge_lora(
            MergeParams(checkpoint=str(lora.run_dir / "checkpoints" / "step-000020"), output=str(tmp_path / "merged")),
            merged_ctx,
        )


def test_distillation_trains_a_smaller_student_on_soft_targets(job_context, corpus):
    teacher = job_context("teacher")
    run(teacher, corpus, max_steps=30)
    student = job_context("student")
    run(
        student,
        corpus,
        model={"n_layer": 1, "n_embd": 16},
        distill={"teacher": "teacher", "temperature": 2.0, "alpha": 0.7},
    )
    assert student.metrics("train/loss")[-1][1] < student.metrics("train/loss")[0][1]
    model, _, _ = load_checkpoint(student.run_dir / "checkpoints" / "best")
    assert model.config.n_layer == 1
    # the loss itself: zero soft term when student == teacher; pure labels at alpha 0
    t, _, _ = load_checkpoint(teacher.run_dir / "checkpoints" / "best")
    x = torch.randint(0, t.config.vocab_size, (2, 16))
    logits, ce = t(x, x)
    assert torch.isclose(distillation_loss(logits, ce, t, x, x, 2.0, 1.0), torch.tensor(0.0), atol=1e-5)
    assert torch.isclose(distillation_loss(logits, ce, t, x, x, 2.0, 0.0), ce)


def test_prompt_response_fine_tuning_and_bpe(job_context, tmp_path):
    rows = [{"prompt": f"Q: what is {a} plus {b}?\nA: ", "response": str(a + b)} for a in range(12) for b in range(12)]
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    ctx = job_context()
    settings = tiny(
        data,
        data={"format": "prompt_response", "tokenizer": "bpe", "vocab_size": 300},
        model={"block_size": 32},
        max_steps=30,
    )
    train(TrainParams.model_validate(settings), ctx)
    assert ctx.metrics("val/bpb") and not ctx.metrics("val/bpc")
    assert ctx.metrics("train/loss")[-1][1] < ctx.metrics("train/loss")[0][1]


# ---------------------------------------------------------------- bad input


def test_context_longer_than_the_data(job_context, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("just a few words of text " * 3)
    with pytest.raises(TrainingError, match=r"validation split has .* tokens, not more than the context length"):
        run(job_context(), short, model={"block_size": 64})


def test_empty_and_binary_corpus(job_context, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "b.bin").write_bytes(bytes(range(256)) * 10)
    with pytest.raises(TrainingError, match="is empty"):
        run(job_context("a"), tmp_path / "empty.txt")
    with pytest.raises(TrainingError, match="binary"):
        run(job_context("b"), tmp_path / "b.bin")


def test_nan_loss_stops_without_saving_the_diverged_weights(job_context, corpus):
    base = job_context("base")
    run(base, corpus)
    before = weights(base.run_dir / "checkpoints" / "step-000020")
    ctx = job_context("diverging")
    with pytest.raises(TrainingError, match="loss became NaN or infinite by step"):
        run(
            ctx,
            corpus,
            init_from="base",
            learning_rate=1e12,
            min_lr=0,
            grad_clip=0.0,
            warmup_steps=0,
            log_interval=7,
            checkpoint_interval=3,
        )
    for folder in (ctx.run_dir / "checkpoints").glob("step-*"):  # whatever was saved is finite
        assert all(torch.isfinite(v).all() for v in weights(folder).values())
    after = weights(base.run_dir / "checkpoints" / "step-000020")
    assert all(torch.equal(before[k], after[k]) for k in before)  # the checkpoint it started from is intact


def test_checkpoints_from_another_architecture_or_corrupt_files(job_context, corpus):
    base = job_context("base")
    run(base, corpus)
    ckpt = base.run_dir / "checkpoints" / "step-000020"
    wide = job_context("wide")
    run(wide, corpus, model={"n_embd": 48})
    wide_weights = wide.run_dir / "checkpoints" / "step-000020" / "model.safetensors"
    (ckpt / "model.safetensors").write_bytes(wide_weights.read_bytes())
    with pytest.raises(TrainingError, match="saved from a different architecture"):
        run(job_context("ft1"), corpus, init_from=str(ckpt))
    (ckpt / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(TrainingError, match="corrupt or not a safetensors file"):
        run(job_context("ft2"), corpus, init_from=str(ckpt))
    with pytest.raises(TrainingError, match="no checkpoint, run folder or run id 'nope'"):
        run(job_context("ft3"), corpus, init_from="nope")
    assert (base.run_dir / "checkpoints" / "best" / "model.safetensors").exists()  # nothing else was touched


def test_out_of_memory_is_explained_and_checkpoints_survive(job_context, corpus, monkeypatch):
    import studio_trainer.train.loop as loop

    real_step, calls = loop.train_step, {"n": 0}

    def step_then_run_out(*args, **kwargs):  # memory runs out at step 13, after the step-10 checkpoint
        calls["n"] += 1
        if calls["n"] == 13:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", step_then_run_out)
    ctx = job_context()
    with pytest.raises(TrainingError, match=r"ran out of memory \(batch 4 x context 16\); try a smaller batch.*intact"):
        run(ctx, corpus)
    assert json.loads((ctx.run_dir / "checkpoints" / "latest.json").read_text())["step"] == 10
    assert load_checkpoint(ctx.run_dir / "checkpoints" / "step-000010")[0] is not None


def test_old_step_checkpoints_go_but_a_folder_a_person_made_beside_them_stays(tmp_path):
    """A merged LoRA checkpoint lands beside its source by default (``step-000020-merged``):
    keeping the newest checkpoints must not delete it."""
    from studio_trainer.checkpoint_folders import checkpoint_of
    from studio_trainer.train.checkpoint import mark_latest

    holder = tmp_path / "checkpoints"
    for name in ("step-000010", "step-000020", "step-000020-merged", "step-000030"):
        (holder / name).mkdir(parents=True)
    mark_latest(holder, holder / "step-000030", 30, keep=1)
    assert sorted(p.name for p in holder.iterdir() if p.is_dir()) == ["step-000020-merged", "step-000030"]
    assert checkpoint_of(tmp_path) is None  # no config.json anywhere: nothing taken for a checkpoint
