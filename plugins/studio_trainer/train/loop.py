"""The training job: ``train(params, ctx)`` runs in a worker process and reports to the studio.

One pass reads top to bottom: prepare (data, tokenizer, model, optimizer — fresh, from a
checkpoint, or resumed), then the loop, where each step is ``train_step`` (micro-batches,
gradient accumulation, clipping, the optimizer) and, at intervals, logging, validation,
samples and checkpoints. Only rank 0 logs and saves; launched in a process group
(torchrun) the same loop trains data-parallel (``distributed.py``). The studio's cost per
step is a few metric calls into a buffer.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from torch.nn import functional as F

from studio.api import JobCancelled, JobContext, Metric, StudioFileError, read_events, read_json, write_json

from ..checkpoint_folders import checkpoints_dir, run_of_checkpoint
from ..config import TrainParams, one_line
from ..data import corpus as corpus_io
from ..data.batches import PairBatches, TokenBatches
from ..data.chat import encode_pairs
from ..data.tokenizer import Tokenizer, build_tokenizer, encode_documents, load_tokenizer
from ..hf import finetune
from ..hf.model import HFCausalLM
from ..model.gpt import GPT
from ..model.lora import apply_lora
from ..model.summary import ModelSummary, summarize
from . import checkpoint as ckpt
from . import distributed, launch, memory
from .device import autocast, peak_flops, pick_device
from .sampling import sample_text
from .schedule import lr_at, plan


class TrainingError(RuntimeError):
    """A problem the user can act on; the message says what happened and what is safe."""


@dataclass
class Setup:
    params: TrainParams
    device: str
    model: GPT | HFCausalLM  # the module that is saved (uncompiled)
    forward: torch.nn.Module  # the module that is called (maybe wrapped in DDP, maybe compiled)
    tokenizer: Tokenizer
    train_batches: TokenBatches | PairBatches
    val_batches: Callable[[], TokenBatches | PairBatches]  # fresh each eval: the same val set every time
    val_units_per_token: float  # characters (char) or bytes (BPE) per token, for bits per char/byte
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None = None
    teacher: GPT | None = None
    start_step: int = 0
    best_val: float = math.inf
    replay: list[Metric] = field(default_factory=list)  # an earlier run's curves, for a resumed run
    hf_base: Path | None = None  # a Hugging Face model's fine-tune: the folder its checkpoints build on


# ---------------------------------------------------------------- one optimizer step


def train_step(
    model: Callable,
    optimizer: torch.optim.Optimizer,
    micro_batches: Sequence[tuple[torch.Tensor, ...]],
    *,
    grad_clip: float,
    amp,
    scaler: torch.amp.GradScaler | None = None,
    teacher: GPT | None = None,
    distill=None,
    params_to_clip=None,
    shares: list[float] | None = None,
    cuda_graphs: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Accumulate gradients over the micro-batches, clip, step. Each micro-batch's loss is
    weighted by its share of the counted (non-masked) targets (``shares``; counted here when
    not given), so k micro-batches give the same update as one batch k times larger.
    Returns (mean loss, grad norm) as tensors: nothing here waits for the device.
    ``cuda_graphs``: the model is compiled with CUDA graphs, whose replays reuse their output
    memory, so each micro-batch starts a new graph step and the loss is copied out.
    Data-parallel (a DDP module), gradients are averaged over the processes once per step,
    in the last micro-batch's backward."""
    if shares is None:
        shares = target_shares([y for _, y in micro_batches])
    loss_sum = None
    last = len(micro_batches) - 1
    for i, ((x, y), share) in enumerate(zip(micro_batches, shares, strict=True)):
        if cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        with distributed.without_gradient_sync(model) if i < last else contextlib.nullcontext():
            with amp:
                logits, loss = model(x, y)
                if teacher is not None:
                    loss = distillation_loss(logits, loss, teacher, x, y, distill.temperature, distill.alpha)
            weighted = loss if share == 1.0 else loss * share
            (scaler.scale(weighted) if scaler else weighted).backward()
        loss_sum = weighted.detach().clone() if loss_sum is None else loss_sum + weighted.detach()
    if loss_sum is None:
        raise ValueError("a step needs at least one micro-batch")
    if scaler:
        scaler.unscale_(optimizer)
    clip_params = (
        params_to_clip if params_to_clip is not None else [p for g in optimizer.param_groups for p in g["params"]]
    )
    grad_norm = torch.nn.utils.clip_grad_norm_(clip_params, grad_clip if grad_clip > 0 else float("inf"))
    if scaler:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_sum, grad_norm


def target_shares(targets: list[torch.Tensor]) -> list[float]:
    """Each micro-batch's share of the counted (not ``-100``) targets. Counted on the CPU
    batches before they go to the device, so a GPU step never waits for the host."""
    counts = [counted_targets(y) for y in targets]
    total = sum(counts) or 1
    return [n / total for n in counts]


def counted_targets(y: torch.Tensor) -> int:
    """Targets that count in the loss (not ``-100``: prompt tokens, padding)."""
    return int((y != -100).sum())


def distillation_loss(logits, label_loss, teacher: GPT, x, y, temperature: float, alpha: float) -> torch.Tensor:
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * cross-entropy, over counted tokens."""
    with torch.no_grad():
        teacher_logits, _ = teacher(x, y)
    mask = (y != -100).reshape(-1)
    s = F.log_softmax(logits.reshape(-1, logits.size(-1))[mask].float() / temperature, dim=-1)
    t = F.log_softmax(teacher_logits.reshape(-1, teacher_logits.size(-1))[mask].float() / temperature, dim=-1)
    soft = F.kl_div(s, t, log_target=True, reduction="batchmean") * temperature**2
    return alpha * soft + (1 - alpha) * label_loss


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches, iters: int, device: str, amp, cuda_graphs: bool = False) -> float:
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for _ in range(iters):
        batch = batches.next()
        n = counted_targets(batch[1])  # counted on the CPU: no wait for the device
        x, y = to_device(batch, device)
        if cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        with amp:
            _, loss = model(x, y)
        total += loss.double() * n
        count += n
    model.train(was_training)
    return float(total) / max(1, count)  # the one host sync of an evaluation


def to_device(batch: tuple[torch.Tensor, ...], device: str) -> tuple[torch.Tensor, ...]:
    """Copy a CPU batch to the device; on CUDA through pinned memory, so the copy is
    asynchronous and the host does not wait for the GPU to finish the previous step."""
    if device == "cuda":  # contiguous first: x and y are strided views of one window array
        return tuple(t.contiguous().pin_memory().to(device, non_blocking=True) for t in batch)
    return tuple(t.to(device) for t in batch)


# ---------------------------------------------------------------- the job


def train(params: TrainParams, ctx: JobContext) -> dict[str, Any]:
    if launch.launched_by_torchrun():  # one process of a torchrun launch: train in its group
        try:
            world = launch.join_torchrun(params.device, ctx.rank)
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
        if ctx.rank == 0:
            ctx.log(f"data-parallel: {world} processes started by torchrun")
    processes = _processes(params, ctx)
    if processes > 1 and distributed.world_size() == 1:  # start the other ranks, then train as rank 0
        try:
            return launch.data_parallel(params.model_copy(update={"processes": processes}), ctx, train)
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
    main = ctx.rank == 0
    try:
        setup = prepare(params, ctx)
    except ValidationError as exc:  # a resumed run's saved settings that are no longer valid
        raise TrainingError(f"the run's saved settings are invalid: {one_line(exc)}") from None
    except (corpus_io.CorpusError, StudioFileError, ValueError) as exc:
        raise TrainingError(str(exc)) from None
    except (RuntimeError, MemoryError) as exc:
        if memory.is_out_of_memory(exc):
            raise TrainingError(_oom_message(ctx, params)) from None
        raise
    params = setup.params
    if main:
        for point in setup.replay:
            ctx.metric(point.name, int(point.step), math.nan if point.value is None else point.value)
    try:
        return run_loop(setup, ctx)
    except (RuntimeError, MemoryError) as exc:  # torch.OutOfMemoryError is a RuntimeError
        if memory.is_out_of_memory(exc):
            raise TrainingError(_oom_message(ctx, params)) from None
        raise


def _processes(params: TrainParams, ctx: JobContext) -> int:
    """How many processes to train with: as asked, or a resumed run's own number."""
    if not params.resume or "processes" in params.model_fields_set:
        return params.processes
    try:
        folder = ckpt.resolve_checkpoint(params.resume, ctx.folders.runs)
        return int(read_json(folder / "train_state.json")["params"].get("processes", 1))
    except (StudioFileError, KeyError, TypeError, ValueError):
        return 1  # prepare() says what is wrong with the checkpoint


def _oom_message(ctx: JobContext, params: TrainParams) -> str:
    latest = checkpoints_dir(ctx.run_dir) / "latest.json"
    kept = f"; the checkpoints saved so far are intact in {latest.parent}" if latest.exists() else ""
    return (
        f"ran out of memory (batch {params.batch_size} x context {params.model.block_size}); "
        f"try a smaller batch with more gradient accumulation, a shorter context, bf16 or "
        f"gradient checkpointing{kept}"
    )


def run_loop(s: Setup, ctx: JobContext) -> dict[str, Any]:
    p, main = s.params, ctx.rank == 0
    amp = autocast(s.device, p.precision)
    checkpoints = checkpoints_dir(ctx.run_dir)
    world = distributed.world_size()
    if len(set(distributed.gather(p.model_dump_json()))) > 1:
        raise TrainingError(
            "the data-parallel processes were started with different settings; every rank must train the same run"
        )  # their collectives would not line up
    tokens_per_step = p.batch_size * p.model.block_size * p.grad_accum * world  # over all processes
    peak = peak_flops(s.device)
    flops_per_token = model_summary(s.model, p).flops_per_token
    trainable = [q for q in s.model.parameters() if q.requires_grad]
    s.model.train()
    step, val_loss, last_log, timed = s.start_step, None, time.perf_counter(), 0.0
    loss_acc = torch.zeros((), device=s.device)
    cuda_graphs = uses_cuda_graphs(p, s.device)
    schedule = plan(p)  # warmup and validation shortened where the settings are for a longer run
    if main:
        ctx.log(f"training on {s.device} ({p.precision}) from step {step} to {p.max_steps}")
        ctx.log(schedule.describe(p.max_steps), "warning" if schedule.changes else "info")
    try:
        while step < p.max_steps:
            if world == 1:
                ctx.check_cancelled()
            lr = lr_at(step, max_lr=p.learning_rate, min_lr=p.min_lr, warmup=schedule.warmup, total=p.max_steps)
            for group in s.optimizer.param_groups:
                group["lr"] = lr
            batches = [s.train_batches.next() for _ in range(p.grad_accum)]
            shares = target_shares([y for _, y in batches])
            micro = [to_device(batch, s.device) for batch in batches]
            loss, grad_norm = train_step(
                s.forward,
                s.optimizer,
                micro,
                grad_clip=p.grad_clip,
                amp=amp,
                scaler=s.scaler,
                teacher=s.teacher,
                distill=p.distill,
                params_to_clip=trainable,
                shares=shares,
                cuda_graphs=cuda_graphs,
            )
            loss_acc += loss
            step += 1
            if step % p.log_interval == 0 or step == p.max_steps:
                n = p.log_interval if step % p.log_interval == 0 else step % p.log_interval
                train_loss = float(distributed.mean_over_ranks(loss_acc)) / n  # the one host sync per log interval
                if world > 1 and distributed.any_rank(ctx.cancelled, s.device):  # every rank stops at this step
                    raise JobCancelled("cancelled by the user")
                loss_acc.zero_()
                if not math.isfinite(train_loss):
                    raise TrainingError(_nan_message(step, lr, ctx))
                now = time.perf_counter()
                elapsed, last_log = now - last_log + timed, now
                timed = 0.0
                tokens_per_s = tokens_per_step * n / max(elapsed, 1e-9)
                if main:
                    ctx.metric("train/loss", step, train_loss)
                    ctx.metric("lr", step, lr)
                    ctx.metric("grad_norm", step, float(grad_norm))
                    ctx.metric("tokens_per_s", step, tokens_per_s)
                    if peak:
                        ctx.metric("mfu", step, flops_per_token * tokens_per_s / (peak * world))
                    ctx.progress(step, p.max_steps, f"step {step}/{p.max_steps} · loss {train_loss:.4f}")
            paused = time.perf_counter()
            if step % schedule.eval_interval == 0 or step == p.max_steps:
                val_loss = validate(s, ctx, step, amp, checkpoints, schedule.eval_iters)
            if p.sample_interval and (step % p.sample_interval == 0 or step == p.max_steps) and main:
                emit_sample(s, ctx, step)
            if step % p.checkpoint_interval == 0 or step == p.max_steps:
                save(s, ctx, step, val_loss, checkpoints)
            timed -= time.perf_counter() - paused  # keep eval/sample/save time out of tokens/s
    except JobCancelled:
        if step > s.start_step:
            save(s, ctx, step, val_loss, checkpoints)
            if main:
                ctx.log(f"cancelled at step {step}; saved a checkpoint to resume from")
        raise
    return {
        "steps": step,
        "val_loss": val_loss,
        "best_val_loss": s.best_val if s.best_val < math.inf else None,
        "checkpoint": str(checkpoints / "best") if (checkpoints / "best").exists() else None,
    }


def uses_cuda_graphs(p: TrainParams, device: str) -> bool:
    return p.compile and p.compile_mode != "default" and device == "cuda"


def _nan_message(step: int, lr: float, ctx: JobContext) -> str:
    return (
        f"the loss became NaN or infinite by step {step} (learning rate {lr:.3g}); training stopped and "
        f"nothing was saved from the diverged weights. Lower the learning rate, or clip gradients; "
        f"earlier checkpoints in {checkpoints_dir(ctx.run_dir)} are intact"
    )


def validate(s: Setup, ctx: JobContext, step: int, amp, checkpoints: Path, iters: int) -> float:
    p = s.params
    val_loss = evaluate(s.forward, s.val_batches(), iters, s.device, amp, uses_cuda_graphs(p, s.device))
    if not math.isfinite(val_loss):
        raise TrainingError(_nan_message(step, s.optimizer.param_groups[0]["lr"], ctx))
    if ctx.rank == 0:
        unit = "bpc" if s.tokenizer.kind == "char" else "bpb"
        ctx.metric("val/loss", step, val_loss)
        ctx.metric(f"val/{unit}", step, val_loss / math.log(2) / s.val_units_per_token)
        ctx.metric("val/ppl", step, math.exp(min(val_loss, 50.0)))
        if val_loss < s.best_val:
            s.best_val = val_loss
            write_checkpoint(s, checkpoints / "best", step, val_loss)
            ctx.artifact(checkpoints / "best", kind="checkpoint")
    return val_loss


def emit_sample(s: Setup, ctx: JobContext, step: int) -> None:
    """A sample of the model so far; a chat fine-tune is asked the prompt as a user's turn
    (its chat template) and answers until its end of turn."""
    p = s.params
    started = time.time()
    chat = p.data.format == "prompt_response" and p.data.chat_template
    chat = chat and getattr(s.tokenizer, "has_chat_template", False)
    prompt = p.sample_prompt
    if chat:
        prompt = s.tokenizer.chat([{"role": "user", "content": prompt}])  # type: ignore[union-attr]
    text = sample_text(
        s.model,
        s.tokenizer,
        prompt,
        p.sample_tokens,
        p.temperature,
        p.top_k,
        seed=p.seed + step,
        device=s.device,
        stop_at_eos=bool(chat),
    )
    ctx.span(
        kind="sample",
        name=f"sample at step {step}",
        step=step,
        start=started,
        duration=time.time() - started,
        inputs={"prompt": p.sample_prompt},
        outputs={"text": text},
        params={"temperature": p.temperature, "top_k": p.top_k, "max_new_tokens": p.sample_tokens},
    )


def save(s: Setup, ctx: JobContext, step: int, val_loss: float | None, checkpoints: Path) -> None:
    """A resumable checkpoint, written by rank 0 with every rank's data position and RNG
    (every rank calls this at the same step)."""
    if not all(torch.isfinite(q).all() for q in s.model.parameters() if q.requires_grad):
        raise TrainingError(_nan_message(step, s.optimizer.param_groups[0]["lr"], ctx))
    states = distributed.gather(_rank_state(s))
    if ctx.rank != 0:
        return
    tensors, groups = ckpt.optimizer_tensors(s.optimizer)
    for rank, state in enumerate(states):
        tensors.update({distributed.rank_prefix(rank) + k: v for k, v in state.items()})
    if s.scaler is not None:
        tensors["scaler.scale"] = torch.tensor(s.scaler.get_scale())
    meta = {
        "params": s.params.model_dump(mode="json"),
        "step": step,
        "best_val": s.best_val if s.best_val < math.inf else None,
        "optimizer_groups": groups,
        "run_id": ctx.run_id,
    }
    folder = write_checkpoint(s, checkpoints / f"step-{step:06d}", step, val_loss, tensors, meta)
    ckpt.mark_latest(checkpoints, folder, step, s.params.keep_checkpoints)
    ctx.artifact(folder, kind="checkpoint")


def write_checkpoint(
    s: Setup,
    folder: Path,
    step: int,
    val_loss: float | None,
    train_tensors: dict[str, torch.Tensor] | None = None,
    train_meta: dict[str, Any] | None = None,
) -> Path:
    """A studio checkpoint, or for a Hugging Face model's fine-tune what the run changed
    (its adapters or weights) and the base it changed (``hf/finetune.py``)."""
    if s.hf_base is not None and isinstance(s.model, HFCausalLM):
        return finetune.save_finetuned(
            folder,
            s.model,
            s.hf_base,
            step=step,
            val_loss=val_loss,
            lora=s.params.lora,
            block=s.params.model.block_size,
            train_tensors=train_tensors,
            train_meta=train_meta,
        )
    assert isinstance(s.model, GPT)
    return ckpt.save_checkpoint(
        folder,
        s.model,
        s.tokenizer,
        step=step,
        val_loss=val_loss,
        lora=s.params.lora,
        train_tensors=train_tensors,
        train_meta=train_meta,
    )


def model_summary(model: torch.nn.Module, params: TrainParams) -> ModelSummary:
    """Parameters, FLOPs and memory of the model at the training context."""
    if isinstance(model, HFCausalLM):
        return finetune.summarize_hf(model, params.model.block_size, params.batch_size, params.grad_checkpointing)
    return summarize(model, params.batch_size, params.grad_checkpointing)


def _rank_state(s: Setup) -> dict[str, torch.Tensor]:
    """What differs between processes: the data position and the RNG (dropout)."""
    state = {f"data.{k}": v for k, v in s.train_batches.state().items()}
    state["rng.cpu"] = torch.get_rng_state()
    if s.device == "cuda":
        state["rng.cuda"] = torch.cuda.get_rng_state()
    return state


# ---------------------------------------------------------------- preparing a run


def prepare(params: TrainParams, ctx: JobContext) -> Setup:
    runs_dir = ctx.folders.runs
    note = ctx.log if ctx.rank == 0 else (lambda text: None)
    resume_from = None
    if params.resume:
        resume_from = ckpt.resolve_checkpoint(params.resume, runs_dir)
        _, meta = ckpt.load_train_state(resume_from)
        saved = TrainParams.model_validate(meta["params"])
        overrides: dict[str, Any] = {
            k: getattr(params, k)
            for k in (
                "max_steps",
                "device",
                "processes",
                "log_interval",
                "eval_interval",
                "sample_interval",
                "checkpoint_interval",
            )
            if k in params.model_fields_set
        }
        params = saved.model_copy(update={**overrides, "resume": params.resume})
        note(
            f"resuming from {resume_from} (step {meta['step']}) with the run's saved settings"
            + (f"; changed: {', '.join(overrides)}" if overrides else "")
        )
    params = params.model_copy(update={"processes": distributed.world_size()})  # what this run really uses
    torch.manual_seed(params.seed + ctx.rank)
    device = pick_device(params.device)
    if params.precision == "fp16" and device != "cuda":
        raise ValueError("fp16 training needs CUDA (it uses a grad scaler); use bf16 on the CPU")

    # model and tokenizer: from a checkpoint (fine-tuning, resume) or new
    base = resume_from or (ckpt.resolve_checkpoint(params.init_from, runs_dir) if params.init_from else None)
    texts, pairs = _read_corpus(params)
    teacher, teacher_tok = None, None
    if params.distill:
        teacher_dir = ckpt.resolve_checkpoint(params.distill.teacher, runs_dir, prefer="best")
        teacher, teacher_tok, _ = ckpt.load_checkpoint(teacher_dir, device)
        teacher.requires_grad_(False)
    hf_base = None
    if base is not None:
        # a Hugging Face model trains in float32 (bf16 through autocast, as a studio model)
        model, tokenizer, _ = ckpt.load_checkpoint(
            base, "cpu", with_lora=resume_from is not None, dtype="float32", allow_pickle=params.allow_pickle
        )
        if isinstance(model, HFCausalLM):
            hf_base = _hf_base(base, resume_from)
        if params.lora and resume_from is None:
            targets = params.lora.targets
            if isinstance(model, HFCausalLM):
                targets, why = finetune.lora_targets(model, targets)
                if why:
                    note(why)
            lora = params.lora.model_copy(update={"targets": targets})
            params = params.model_copy(update={"lora": lora})
            wrapped = apply_lora(model, lora.rank, lora.alpha, targets, lora.dropout)
            if isinstance(model, HFCausalLM):
                model.annotate()  # the Inspector's aliases point at the wrapped projections
            note(f"LoRA rank {lora.rank} on {len(wrapped)} layers: {', '.join(wrapped)}")
        if params.init_from and resume_from is None:
            note(f"fine-tuning {base} (its model config and tokenizer are used)")
        if isinstance(model, HFCausalLM):
            params = _hf_params(params, model, note if resume_from is None else (lambda text: None))
            _require_to_train_hf(model, params, device)
        else:
            params = params.model_copy(update={"model": model.config})
            memory.require_to_train(model, params, device, loaded=memory.model_bytes(model))
    else:
        tokenizer = (
            load_tokenizer(Path(params.data.tokenizer_file))
            if params.data.tokenizer_file
            else teacher_tok
            if teacher_tok is not None
            else build_tokenizer(params.data.tokenizer, texts, params.data.vocab_size)
        )
        model_config = params.model.model_copy(update={"vocab_size": tokenizer.vocab_size})
        memory.require_to_train(memory.meta_model(model_config), params, device)
        model = GPT(model_config)
        params = params.model_copy(update={"model": model.config})
    if teacher is not None:
        if teacher.config.vocab_size != model.config.vocab_size:
            raise ValueError("the teacher and the student must share a tokenizer (vocabulary sizes differ)")
        if teacher.config.block_size < model.config.block_size:
            raise ValueError(f"the teacher's context ({teacher.config.block_size}) is shorter than the student's")
    model.to(device)
    model.gradient_checkpointing = params.grad_checkpointing
    if isinstance(model, HFCausalLM) and params.grad_checkpointing:
        _checkpoint_activations(model)
    if ctx.rank == 0 and resume_from is None:
        summary = model_summary(model, params)
        ctx.log("model summary\n" + summary.table())
        write_json(ctx.run_dir / "model_summary.json", summary.as_dict())

    train_batches, val_batches, units = _batches(params, tokenizer, texts, pairs, ctx.rank, note)
    optimizer = make_optimizer(model, params, device)
    scaler = torch.amp.GradScaler("cuda") if params.precision == "fp16" else None
    setup = Setup(
        params=params,
        device=device,
        model=model,
        forward=model,
        tokenizer=tokenizer,
        train_batches=train_batches,
        val_batches=val_batches,
        val_units_per_token=units,
        optimizer=optimizer,
        scaler=scaler,
        teacher=teacher,
        hf_base=hf_base,
    )
    if resume_from is not None:
        _restore(setup, resume_from, ctx)
    setup.forward = distributed.data_parallel(model, device)
    if params.compile:
        compiled = torch.compile(setup.forward, mode=params.compile_mode)
        assert isinstance(compiled, torch.nn.Module)  # a compiled module is one (OptimizedModule)
        setup.forward = compiled
    return setup


#: the context a Hugging Face model trains on when the run does not set one (its own may be 32k)
HF_TRAIN_CONTEXT = 512


def _hf_base(loaded: Path, resume_from: Path | None) -> Path:
    """The folder an HF fine-tune's checkpoints build on: the one fine-tuned, or for a
    resumed run the base its checkpoint names."""
    if resume_from is not None:
        config = ckpt.read_config(resume_from)
        if finetune.is_finetune(config):
            return Path(config["base"])
    return Path(loaded).resolve()


def _hf_params(params: TrainParams, model: HFCausalLM, note: Callable[[str], object]) -> TrainParams:
    """The run's model settings from the Hugging Face model: its shape, and the training
    context (the run's own, else ``HF_TRAIN_CONTEXT``, never beyond the model's)."""
    c = model.config
    asked = params.model.block_size if "block_size" in params.model.model_fields_set else HF_TRAIN_CONTEXT
    block = min(asked, c.block_size)
    if block != params.model.block_size:
        note(f"training context {block} tokens (the model's own is {c.block_size}; set model.block_size to change it)")
    shape = {"n_layer": c.n_layer, "n_head": c.n_head, "n_embd": c.n_embd, "vocab_size": c.vocab_size}
    try:
        model_config = params.model.model_validate({**params.model.model_dump(), **shape, "block_size": block})
    except ValidationError:  # a shape beyond the studio GPT's limits: the context is what the loop uses
        model_config = params.model.model_copy(update={"block_size": block})
    return params.model_copy(update={"model": model_config})


def _require_to_train_hf(model: HFCausalLM, params: TrainParams, device: str) -> None:
    """``memory.require_to_train`` for a Hugging Face model (already loaded, in float32)."""
    need = model_summary(model, params).train_bytes
    if not device.startswith("cuda"):
        need = need * params.processes - memory.model_bytes(model)
    memory.require(
        need,
        device,
        f"training this model (batch {params.batch_size} x context {params.model.block_size})",
        "use LoRA, a smaller batch with more gradient accumulation, a shorter context, or gradient checkpointing",
    )


def _checkpoint_activations(model: HFCausalLM) -> None:
    """transformers' own gradient checkpointing (non-reentrant: frozen LoRA inputs need no grad)."""
    enable = getattr(model.hf, "activation_checkpointing_enable", None)  # transformers 5 (the old name warns)
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.hf.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def _read_corpus(params: TrainParams) -> tuple[list[str], list[tuple[str, str]] | None]:
    """The documents (for a tokenizer) and, for fine-tuning data, the (prompt, response) pairs."""
    d = params.data
    if d.format == "prompt_response":
        pairs = corpus_io.load_pairs(d.corpus, d.prompt_column, d.response_column, d.max_chars)
        return [p + r for p, r in pairs], pairs
    return corpus_io.load_texts(d.corpus, d.text_column, d.max_chars), None


def _batches(
    params: TrainParams,
    tokenizer: Tokenizer,
    texts: list[str],
    raw: list[tuple[str, str]] | None,
    rank: int = 0,
    note: Callable[[str], object] = lambda text: None,
):
    """Training batches (each process its own: the seed is offset by its rank), a maker of
    the validation batches (the same on every rank) and the characters or bytes per token.
    Prompt/response pairs of a model with a chat template are rendered by it (``data/chat.py``)."""
    d, block, seed = params.data, params.model.block_size, params.seed
    if raw is not None:
        pairs, chars = encode_pairs(tokenizer, raw, d.chat_template, note)
        cut = max(1, int(len(pairs) * (1 - d.val_fraction)))
        if cut >= len(pairs):
            raise ValueError(f"{len(pairs)} pairs are too few to hold out a validation set")
        units = sum(chars[cut:]) / max(1, sum(len(a) + len(b) for a, b in pairs[cut:]))

        def make(part: list[tuple[list[int], list[int]]], part_seed: int) -> PairBatches:
            return PairBatches(part, params.batch_size, block, tokenizer.eos_id, part_seed)

        return make(pairs[:cut], seed + rank), (lambda: make(pairs[cut:], seed + 1)), units
    stream = torch.tensor(encode_documents(tokenizer, texts), dtype=torch.long)
    if stream.numel() == 0:
        raise ValueError("the corpus gives no tokens with this tokenizer")
    cut = int(stream.numel() * (1 - d.val_fraction))
    train_tokens, val_tokens = stream[:cut], stream[cut:]
    text = tokenizer.decode(val_tokens[:200_000].tolist())
    units = (len(text) if tokenizer.kind == "char" else len(text.encode())) / max(1, min(200_000, val_tokens.numel()))
    train_batches = TokenBatches(train_tokens, block, params.batch_size, seed + rank, name="training")
    TokenBatches(val_tokens, block, 1, 0, name="validation")  # checks the split is long enough

    def validation() -> TokenBatches:
        return TokenBatches(val_tokens, block, params.batch_size, seed + 1, name="validation")

    return train_batches, validation, units


def make_optimizer(model: torch.nn.Module, params: TrainParams, device: str) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (not biases, norms or the lag weights); fused kernels where available."""
    trainable = [(n, q) for n, q in model.named_parameters() if q.requires_grad]
    groups = [
        {"params": [q for _, q in trainable if q.dim() >= 2], "weight_decay": params.weight_decay},
        {"params": [q for _, q in trainable if q.dim() < 2], "weight_decay": 0.0},
    ]
    kwargs: dict[str, Any] = {"lr": params.learning_rate, "betas": (params.beta1, params.beta2)}
    if device in ("cuda", "cpu"):
        kwargs["fused"] = True
    return torch.optim.AdamW([g for g in groups if g["params"]], **kwargs)


def _restore(s: Setup, folder: Path, ctx: JobContext) -> None:
    tensors, meta = ckpt.load_train_state(folder)
    ckpt.load_optimizer(
        s.optimizer,
        {k: v.to(s.device) if k.startswith("optimizer.") and v.dim() > 0 else v for k, v in tensors.items()},
        meta["optimizer_groups"],
    )
    prefix = distributed.rank_prefix(ctx.rank)
    own = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    if "rng.cpu" in own:  # absent for a rank the saving run did not have: it starts from its own seed
        s.train_batches.load_state({k.split(".", 1)[1]: v for k, v in own.items() if k.startswith("data.")})
        torch.set_rng_state(own["rng.cpu"])
        if "rng.cuda" in own and s.device == "cuda":
            torch.cuda.set_rng_state(own["rng.cuda"])
    if s.scaler is not None and "scaler.scale" in tensors:
        s.scaler.update(float(tensors["scaler.scale"]))
    s.start_step = int(meta["step"])
    s.best_val = meta.get("best_val") or math.inf
    if ctx.rank == 0:
        earlier = run_of_checkpoint(folder)
        s.replay = _metrics_until(earlier, s.start_step) if earlier is not None else []
        best = folder.parent / "best"
        if best.exists() and best.parent != checkpoints_dir(ctx.run_dir):
            shutil.copytree(best, checkpoints_dir(ctx.run_dir) / "best")


def _metrics_until(run_dir: Path, step: int) -> list[Metric]:
    """The earlier run's metric points up to ``step``, so this run's curves continue them."""
    return [e for e in read_events(run_dir) if isinstance(e, Metric) and e.step <= step]
