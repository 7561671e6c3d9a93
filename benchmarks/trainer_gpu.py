"""GPU trainer benchmark (issue 3): training tokens/s and model FLOPs utilisation (MFU) of
the studio's trainer job against a plain, compiled PyTorch loop of the identical model,
measured in the same invocation on the same GPU.

Workload (nanoGPT's shakespeare_char GPU configuration): tiny shakespeare, char level,
6 layers, 6 heads, width 384, context 256, batch 64, dropout 0.2, bf16 autocast, fused
AdamW, ``torch.compile``. Runs (``--runs``), each in a fresh process:

* plain               — a hand-written loop (pinned batches, one host sync per log interval),
                        compiled; the baseline. A trailing 2 repeats a run (repeats are averaged);
* studio              — the trainer as a studio job (worker process, events, checkpoints), compiled;
* plain_cudagraphs,
  studio_cudagraphs   — the same, compiled with ``mode="reduce-overhead"`` (CUDA graphs);
* studio_in_process   — the trainer's loop called directly (no worker), compiled;
* plain_studio_batches,
  plain_studio_step   — the plain loop with the trainer's batch path, or its train_step,
                        swapped in: which half of the studio loop costs what
                        (these three are compiled with ``--compile-mode``, ``default`` unless set);
* plain_eager,
  studio_eager        — without ``torch.compile``.

Throughput is measured after the first ``--skip`` steps (compilation and warm-up) up to
``--steps``; MFU counts the model's training FLOPs per token (``summary.flops_per_token``,
PaLM appendix B, as nanoGPT) against the GPU's dense bf16 peak. Needs a CUDA GPU:

    python benchmarks/trainer_gpu.py [--steps 1500] [--skip 300] [--data ../shared/data/tinyshakespeare.txt]
    python benchmarks/trainer_gpu.py --compile-mode reduce-overhead \
        --runs plain_cudagraphs,plain_studio_batches,plain_studio_step,studio_in_process,plain_cudagraphs2
    python benchmarks/trainer_gpu.py --profile [--trace-dir DIR] [--compile-mode reduce-overhead]
    python benchmarks/trainer_gpu.py --smoke --steps 60 --skip 20    # checks the script itself, on the CPU
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import tempfile
import time
from pathlib import Path

from trainer import DEFAULT_DATA, in_subprocess, tokens_per_second  # benchmarks/ is the script's folder

ROOT = Path(__file__).resolve().parents[1]
MODEL = {"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256, "dropout": 0.2, "bias": False}
BATCH, LOG_INTERVAL = 64, 50
DEVICE = "cuda"
SMOKE_MODEL = {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 32, "dropout": 0.2, "bias": False}


def smoke_test_settings() -> None:
    """``--smoke``: a tiny model on the CPU, so the script itself can be checked anywhere
    before the lent GPU's minutes are spent on it. Its figures mean nothing."""
    global MODEL, BATCH, DEVICE
    MODEL, BATCH, DEVICE = SMOKE_MODEL, 4, "cpu"


def synchronize() -> None:
    import torch

    if DEVICE == "cuda":
        torch.cuda.synchronize()


def job_params(data: Path, steps: int, compile: str | None) -> dict:
    return {
        "data": {"corpus": str(data), "tokenizer": "char", "val_fraction": 0.1},
        "model": MODEL,
        "max_steps": steps,
        "batch_size": BATCH,
        "learning_rate": 1e-3,
        "min_lr": 1e-4,
        "warmup_steps": 100,
        "beta2": 0.99,
        "weight_decay": 0.1,
        "grad_clip": 1.0,
        "device": DEVICE,
        "precision": "bf16",
        "compile": compile is not None,
        "compile_mode": compile or "default",
        "log_interval": LOG_INTERVAL,
        "eval_interval": steps,
        "eval_iters": 20,
        "sample_interval": 0,
        "checkpoint_interval": steps,
        "seed": 1337,
    }


def plain_loop(
    data: Path,
    steps: int,
    skip: int,
    compile: str | None,
    on_step=None,
    studio_batches: bool = False,
    studio_step: bool = False,
) -> dict:
    """What a user writes by hand (nanoGPT's loop): same model, data, optimizer, schedule.
    ``studio_batches`` / ``studio_step`` swap in the trainer's own batch path (sampler,
    target count, pinned copy) or its ``train_step``: the halves of the studio loop, tried
    one at a time inside the plain loop, to find where a gap between the two comes from."""
    import torch

    from studio_trainer.config import ModelConfig, TrainParams
    from studio_trainer.data.batches import TokenBatches
    from studio_trainer.data.tokenizer import CharTokenizer
    from studio_trainer.model.gpt import GPT
    from studio_trainer.model.summary import summarize
    from studio_trainer.train.device import peak_flops
    from studio_trainer.train.loop import make_optimizer, target_shares, to_device, train_step
    from studio_trainer.train.schedule import lr_at

    p = TrainParams.model_validate(job_params(data, steps, compile))
    text = data.read_text(encoding="utf-8")
    tok = CharTokenizer.train([text])
    tokens = torch.tensor(tok.encode(text), dtype=torch.long)
    train_data = tokens[: int(len(tokens) * 0.9)]
    torch.manual_seed(p.seed)
    model = GPT(ModelConfig(**{**MODEL, "vocab_size": tok.vocab_size})).to(DEVICE)
    optimizer = make_optimizer(model, p, DEVICE)
    forward = torch.compile(model, mode=compile) if compile else model
    block = p.model.block_size
    sampler = TokenBatches(train_data, block, BATCH, p.seed)
    cuda_graphs = compile == "reduce-overhead"

    def get_batch():
        if studio_batches:
            batch = sampler.next()
            target_shares([batch[1]])
            return to_device(batch, DEVICE)
        ix = torch.randint(len(train_data) - block - 1, (BATCH,))
        x = torch.stack([train_data[i : i + block] for i in ix])
        y = torch.stack([train_data[i + 1 : i + 1 + block] for i in ix])
        if DEVICE == "cuda":
            return x.pin_memory().cuda(non_blocking=True), y.pin_memory().cuda(non_blocking=True)
        return x, y

    started = None
    for step in range(steps):
        if step == skip:
            synchronize()
            started = time.perf_counter()
        lr = lr_at(step, max_lr=p.learning_rate, min_lr=p.min_lr, warmup=p.warmup_steps, total=steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch()
        if studio_step:
            loss, _ = train_step(
                forward,
                optimizer,
                [(x, y)],
                grad_clip=p.grad_clip,
                amp=torch.autocast(DEVICE, dtype=torch.bfloat16),
                shares=[1.0],
                cuda_graphs=cuda_graphs,
            )
        else:
            if cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()
            with torch.autocast(DEVICE, dtype=torch.bfloat16):
                _, loss = forward(x, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if (step + 1) % LOG_INTERVAL == 0:
            loss.item()  # what a loop that logs pays: one host sync per log interval
        if on_step is not None:
            on_step()
    synchronize()
    tokens_per_s = (steps - skip) * BATCH * block / (time.perf_counter() - started)
    flops = summarize(model).flops_per_token
    peak = peak_flops(DEVICE)
    return {
        "tokens_per_s": tokens_per_s,
        "mfu": flops * tokens_per_s / peak if peak else None,
        "flops_per_token": flops,
        "peak_flops": peak,
        "final_loss": float(loss),
        "gpu": torch.cuda.get_device_name() if DEVICE == "cuda" else DEVICE,
        "torch": torch.__version__,
    }


def studio_job(data: Path, steps: int, skip: int, compile: str | None) -> dict:
    from studio.api import read_records
    from studio.session import Studio

    os.environ["TENSOR_STUDIO_HOME"] = tempfile.mkdtemp(prefix="ts-bench-")
    studio = Studio.load()

    async def go():
        job = studio.jobs.submit("trainer.train", job_params(data, steps, compile))
        await studio.jobs.wait(job)
        return job

    job = asyncio.run(go())
    if job.status != "succeeded":
        raise SystemExit(f"studio job {job.status}: {job.error}")
    return _throughput([e for e in read_records(job.run.dir / "events.jsonl") if e.get("kind") == "metric"], skip)


def studio_in_process(data: Path, steps: int, skip: int, compile: str | None) -> dict:
    """The trainer's loop called directly (no worker process, events kept in a list): splits
    the loop's own cost from the worker's."""
    from studio.testing import RecordingContext
    from studio_trainer.config import TrainParams
    from studio_trainer.train.loop import train

    ctx = RecordingContext(Path(tempfile.mkdtemp(prefix="ts-bench-")) / "run")
    train(TrainParams.model_validate(job_params(data, steps, compile)), ctx)
    metrics = [
        {"kind": "metric", "name": e.name, "step": e.step, "value": e.value, "t": e.t} for e in ctx.of_kind("metric")
    ]
    return _throughput(metrics, skip)


def _throughput(metrics: list[dict], skip: int) -> dict:
    mfus = [e["value"] for e in metrics if e["name"] == "mfu" and e["step"] > skip]
    return {
        "tokens_per_s": tokens_per_second(metrics, BATCH * MODEL["block_size"], after_step=skip),
        "mfu_reported": sum(mfus) / len(mfus) if mfus else None,
        "final_loss": [e["value"] for e in metrics if e["name"] == "train/loss"][-1],
    }


def profiled(kind: str, data: Path, steps: int, skip: int, trace_dir: Path | None, compile: str = "default") -> dict:
    """Host and device time per op over 20 steps after ``skip``, for the plain loop or the
    studio's loop (in-process, its ``train_step`` wrapped to mark steps): where a step's
    time goes when the two differ. Writes a Chrome trace per run to ``trace_dir``."""
    from torch.profiler import ProfilerActivity, profile, schedule

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if DEVICE == "cuda" else [])
    prof = profile(activities=activities, schedule=schedule(wait=skip, warmup=10, active=20, repeat=1))
    prof.start()
    if kind == "plain":
        plain_loop(data, min(steps, skip + 40), skip, compile, on_step=prof.step)
    else:
        from studio_trainer.train import loop

        step = loop.train_step

        def marked(*args, **kwargs):
            result = step(*args, **kwargs)
            prof.step()
            return result

        loop.train_step = marked
        studio_in_process(data, min(steps, skip + 40), skip, compile)
    prof.stop()
    if trace_dir is not None:
        trace_dir.mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(trace_dir / f"{kind}.json"))
    return {"table": prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)}


RUNS = {
    "plain": lambda a: plain_loop(a.data, a.steps, a.skip, "default"),
    "studio": lambda a: studio_job(a.data, a.steps, a.skip, "default"),
    "plain_cudagraphs": lambda a: plain_loop(a.data, a.steps, a.skip, "reduce-overhead"),
    "studio_cudagraphs": lambda a: studio_job(a.data, a.steps, a.skip, "reduce-overhead"),
    # the ablations and --profile use --compile-mode (default: "default")
    "studio_in_process": lambda a: studio_in_process(a.data, a.steps, a.skip, a.compile_mode),
    "plain_studio_batches": lambda a: plain_loop(a.data, a.steps, a.skip, a.compile_mode, studio_batches=True),
    "plain_studio_step": lambda a: plain_loop(a.data, a.steps, a.skip, a.compile_mode, studio_step=True),
    "plain_eager": lambda a: plain_loop(a.data, a.steps, a.skip, None),
    "studio_eager": lambda a: studio_job(a.data, a.steps, a.skip, None),
}


def _passed_on(args: argparse.Namespace) -> list[str]:
    """The options a child process needs to run the same workload."""
    return [
        "--data",
        str(args.data),
        "--steps",
        str(args.steps),
        "--skip",
        str(args.skip),
        "--compile-mode",
        args.compile_mode,
    ] + (["--smoke"] if args.smoke else [])


def _in_subprocess(mode: str, args: argparse.Namespace) -> dict:
    return json.loads(in_subprocess(__file__, ["--mode", mode, *_passed_on(args)], f"{mode} run"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--skip", type=int, default=300, help="steps left out of the timing (compilation, warm-up)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--out",
        type=Path,
        help="results file (default benchmarks/trainer-gpu-results.json; with --smoke, a temporary file)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="check the script on the CPU with a tiny model (its figures mean nothing)"
    )
    parser.add_argument(
        "--runs",
        default="plain,studio,studio2,plain2,plain_cudagraphs,studio_cudagraphs,studio_cudagraphs2,plain_cudagraphs2",
        help="comma-separated runs in order (a trailing 2 repeats a run; repeats are averaged). "
        "The default orders each pair A B B A, so a GPU that drifts during the invocation "
        "favours neither side. Runs: " + ", ".join(RUNS),
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of timing: profile 20 steps of the plain loop and of the studio's loop (torch.profiler)",
    )
    parser.add_argument("--trace-dir", type=Path, help="with --profile: write Chrome traces here")
    parser.add_argument(
        "--compile-mode",
        default="default",
        choices=["default", "reduce-overhead"],
        help="torch.compile mode of the ablation runs (studio_in_process, plain_studio_*) and of --profile",
    )
    parser.add_argument("--profile-kind", choices=["plain", "studio"], help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=sorted(RUNS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        smoke_test_settings()
    if args.mode:
        print(json.dumps(RUNS[args.mode](args)))
        return
    if args.profile_kind:
        print(
            json.dumps(profiled(args.profile_kind, args.data, args.steps, args.skip, args.trace_dir, args.compile_mode))
        )
        return
    if args.profile:  # each loop in its own process, like the timed runs
        for kind in ("plain", "studio"):
            print(f"\n=== {kind}: 20 steps after step {args.skip}, by host time ===", flush=True)
            command = ["--profile-kind", kind, *_passed_on(args)]
            if args.trace_dir:
                command += ["--trace-dir", str(args.trace_dir)]
            print(json.loads(in_subprocess(__file__, command, f"profiling {kind}"))["table"], flush=True)
        return
    import torch

    if DEVICE == "cuda" and not torch.cuda.is_available():
        raise SystemExit("this benchmark needs a CUDA GPU (torch sees none)")
    if not args.data.exists():
        raise SystemExit(f"the reference data {args.data} is missing (it lives in ../shared/data)")
    results = {}
    for mode in args.runs.split(","):
        print(f"running {mode} ({args.steps} steps, timing from step {args.skip})…", flush=True)
        results[mode] = _in_subprocess(mode.rstrip("2"), args)
        print(f"  {results[mode]}", flush=True)
    tps = {
        mode: sum(r["tokens_per_s"] for m, r in results.items() if m.rstrip("2") == mode)
        / sum(1 for m in results if m.rstrip("2") == mode)
        for mode in {m.rstrip("2") for m in results}
    }
    base = "plain" if "plain" in tps else next(m for m in results if m.startswith("plain"))  # the baseline
    plain = tps[base.rstrip("2")]
    flops, peak = results[base]["flops_per_token"], results[base]["peak_flops"] or math.nan
    print(
        f"\n{results[base]['gpu']}, torch {results[base]['torch']}; MFU against the dense bf16 peak "
        f"({peak / 1e12:.0f} TFLOP/s), {flops / 1e6:.1f} MFLOP per token; runs of one kind averaged; "
        f"ablations compiled with mode {args.compile_mode!r}"
    )
    print(f"{'run':<22} {'tokens/s':>12} {'MFU':>7} {'÷ ' + base.rstrip('2'):>17}")
    for mode in RUNS:
        if mode in tps:
            print(f"{mode:<22} {tps[mode]:>12,.0f} {tps[mode] * flops / peak:>7.1%} {tps[mode] / plain:>16.3f}x")
    results["summary"] = {
        mode: {"tokens_per_s": v, "mfu": v * flops / peak, "over_baseline": v / plain} for mode, v in tps.items()
    }
    out = args.out or (
        Path(tempfile.mkdtemp(prefix="ts-smoke-")) / "results.json"
        if args.smoke
        else ROOT / "benchmarks" / "trainer-gpu-results.json"
    )
    out.write_text(
        json.dumps({"steps": args.steps, "skip": args.skip, "model": MODEL, "batch": BATCH, **results}, indent=2) + "\n"
    )
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
