"""Trainer benchmarks (issue 3): the reference workload, each figure beside a baseline run
the same way in the same invocation.

Reference workload (nanoGPT's CPU configuration for shakespeare_char): tiny shakespeare,
char level, 4 layers, 4 heads, width 128, context 64, batch 12, 2000 iterations, lr 1e-3
(cosine to 1e-4), AdamW beta2 0.99, weight decay 0.1, clip 1.0, no dropout; validation
every 250 steps on 200 batches. What the issue leaves open is the trainer's defaults:
biases on, AdamW beta1 0.8, 200 warmup steps. nanoGPT's own choices (no bias, beta1 0.9,
100 warmup steps) run once more for comparison.

Runs, each in a fresh process so none inherits another's warm state (studio and gui
alternate twice and are averaged):
1. plain    — a hand-written PyTorch loop of the identical model and data (the baseline),
              run first and last; the baseline is their mean.
2. studio   — the trainer as a studio job (worker process, events to disk, checkpoints,
              samples), headless.
3. gui      — the same job started from the main window, Metrics panel live (offscreen Qt).
4. xcorr    — the studio job with cross-correlation attention (4 lags).
5. nanogpt  — the studio job with nanoGPT's bias, beta1 and warmup.

Throughput is training tokens per second over the training steps only (validation,
sampling and checkpoint time excluded for every run alike); wall time is reported too.

    .venv/bin/python benchmarks/trainer.py [--iters 2000] [--data ../shared/data/tinyshakespeare.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"
MODEL = {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "dropout": 0.0, "bias": True}
NANOGPT = {"model": {"bias": False}, "beta1": 0.9, "warmup_steps": 100}  # where nanoGPT's settings differ


def reference_params(data: Path, iters: int, attention: str = "causal", nanogpt: bool = False) -> dict:
    params = {
        "data": {"corpus": str(data), "tokenizer": "char", "val_fraction": 0.1},
        "model": {**MODEL, "attention": attention, "xcorr_lags": 4},
        "max_steps": iters,
        "batch_size": 12,
        "learning_rate": 1e-3,
        "min_lr": 1e-4,
        "warmup_steps": 200,
        "beta1": 0.8,
        "beta2": 0.99,
        "weight_decay": 0.1,
        "grad_clip": 1.0,
        "eval_interval": 250,
        "eval_iters": 200,
        "log_interval": 10,
        "sample_interval": 1000,
        "checkpoint_interval": 500,
        "device": "cpu",
        "seed": 1337,
    }
    if nanogpt:
        params.update({**NANOGPT, "model": {**params["model"], **NANOGPT["model"]}})
    return params


# ---------------------------------------------------------------- 1. the plain loop (baseline)


def plain_loop(data: Path, iters: int) -> dict:
    """What a user writes by hand: the same model, data, optimizer and schedule; no events,
    no checkpoints, no samples."""
    import torch

    from studio_trainer.config import ModelConfig, TrainParams
    from studio_trainer.data.tokenizer import CharTokenizer
    from studio_trainer.model.gpt import GPT
    from studio_trainer.train.loop import make_optimizer
    from studio_trainer.train.schedule import lr_at

    started = time.perf_counter()
    p = TrainParams.model_validate(reference_params(data, iters))
    text = data.read_text(encoding="utf-8")
    tok = CharTokenizer.train([text])
    tokens = torch.tensor(tok.encode(text), dtype=torch.long)
    cut = int(len(tokens) * 0.9)
    train_data, val_data = tokens[:cut], tokens[cut:]
    torch.manual_seed(p.seed)
    model = GPT(ModelConfig(**{**MODEL, "vocab_size": tok.vocab_size}))
    optimizer = make_optimizer(model, p, "cpu")
    block, batch = p.model.block_size, p.batch_size

    def get_batch(split, generator=None):
        source = train_data if split == "train" else val_data
        ix = torch.randint(len(source) - block - 1, (batch,), generator=generator)
        x = torch.stack([source[i : i + block] for i in ix])
        y = torch.stack([source[i + 1 : i + 1 + block] for i in ix])
        return x, y

    @torch.no_grad()
    def val_loss():
        model.eval()
        g = torch.Generator().manual_seed(p.seed + 1)
        losses = [model(*get_batch("val", g))[1].item() for _ in range(p.eval_iters)]
        model.train()
        return sum(losses) / len(losses)

    train_time, last_val = 0.0, None
    for step in range(iters):
        t0 = time.perf_counter()
        lr = lr_at(step, max_lr=p.learning_rate, min_lr=p.min_lr, warmup=p.warmup_steps, total=iters)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch("train")
        _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), p.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if (step + 1) % p.log_interval == 0:
            loss.item()
        train_time += time.perf_counter() - t0
        if (step + 1) % p.eval_interval == 0 or step + 1 == iters:
            last_val = val_loss()
    tokens_seen = iters * batch * block
    return {"tokens_per_s": tokens_seen / train_time, "val_loss": last_val, "wall_s": time.perf_counter() - started}


# ---------------------------------------------------------------- 2-4. the studio job


def tokens_per_second(metrics: list[dict], tokens_per_step: int, after_step: int = 0) -> float:
    """Training tokens/s from a run's ``tokens_per_s`` metric points (each covers the steps
    since the previous point), counting the intervals that start at or after ``after_step``."""
    seconds, tokens, previous = 0.0, 0, 0
    for e in metrics:
        if e["name"] != "tokens_per_s":
            continue
        if previous >= after_step:
            steps = e["step"] - previous
            seconds += steps * tokens_per_step / e["value"]
            tokens += steps * tokens_per_step
        previous = e["step"]
    return tokens / seconds if seconds else float("nan")


def in_subprocess(script: str, args: list[str], label: str) -> str:
    """Run ``python script args`` in a fresh process (none inherits another's warm state) and
    return the last line it printed; a failure stops the benchmark with its stderr."""
    out = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{label} failed:\n{out.stderr[-3000:]}")
    return out.stdout.strip().splitlines()[-1]


def _job_figures(run_dir: Path) -> dict:
    from studio.api import read_records  # the stored dicts: tokens_per_second reads them

    events = list(read_records(run_dir / "events.jsonl"))
    metrics = [e for e in events if e["kind"] == "metric"]
    val = [e["value"] for e in metrics if e["name"] == "val/loss"]
    status = [e for e in events if e["kind"] == "status"]
    return {
        "tokens_per_s": tokens_per_second(metrics, 12 * 64),
        "val_loss": val[-1] if val else None,
        "status_events": len(status),
        "events": len(events),
    }


def studio_job(data: Path, iters: int, attention: str, nanogpt: bool = False) -> dict:
    from studio.session import Studio

    os.environ["TENSOR_STUDIO_HOME"] = tempfile.mkdtemp(prefix="ts-bench-")
    studio = Studio.load()

    async def go():
        started = time.perf_counter()
        job = studio.jobs.submit("trainer.train", reference_params(data, iters, attention, nanogpt))
        await studio.jobs.wait(job)
        return job, time.perf_counter() - started

    job, wall = asyncio.run(go())
    if job.status != "succeeded":
        raise SystemExit(f"studio job {job.status}: {job.error}")
    return {**_job_figures(job.run.dir), "wall_s": wall, "run_dir": str(job.run.dir)}


def gui_job(data: Path, iters: int) -> dict:
    import qasync
    from run import _window  # the shell benchmark's main window: fresh studio home, offscreen

    app, window = _window()
    studio = window.studio
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    async def go():
        started = time.perf_counter()
        job = window.submit_job("trainer.train", reference_params(data, iters))
        await studio.jobs.wait(job)
        return job, time.perf_counter() - started

    with loop:
        job, wall = loop.run_until_complete(go())
    points = window.panels["studio:metrics"].runs[job.id].series["train/loss"].n
    window.close_without_prompt()
    if job.status != "succeeded":
        raise SystemExit(f"GUI job {job.status}: {job.error}")
    return {**_job_figures(job.run.dir), "wall_s": wall, "points_drawn": points}


# ---------------------------------------------------------------- driver


def _in_subprocess(mode: str, data: Path, iters: int) -> dict:
    return json.loads(
        in_subprocess(__file__, ["--mode", mode, "--data", str(data), "--iters", str(iters)], f"{mode} run")
    )


def run_all(data: Path, iters: int) -> dict:
    """Headless and GUI runs alternate twice (A B A B) and each kind is averaged: single runs
    on this machine move by a few percent, as much as the difference being measured."""
    results = {}
    for mode in ("plain", "studio", "gui", "studio2", "gui2", "xcorr", "nanogpt", "plain2"):
        print(f"running {mode} ({iters} iterations)…", flush=True)
        results[mode] = _in_subprocess(mode.rstrip("2"), data, iters)
        print(f"  {results[mode]}", flush=True)
    mean = {
        kind: (results[kind]["tokens_per_s"] + results[kind + "2"]["tokens_per_s"]) / 2
        for kind in ("plain", "studio", "gui")
    }
    results["mean_tokens_per_s"] = mean
    results["ratios"] = {
        "studio_over_plain": mean["studio"] / mean["plain"],
        "gui_over_headless": mean["gui"] / mean["studio"],
        "gui_over_headless_pairs": [
            results["gui"]["tokens_per_s"] / results["studio"]["tokens_per_s"],
            results["gui2"]["tokens_per_s"] / results["studio2"]["tokens_per_s"],
        ],
        "xcorr_over_causal_speed": results["xcorr"]["tokens_per_s"] / mean["studio"],
    }
    return results


def report(r: dict) -> None:
    mean, ratios = r["mean_tokens_per_s"], r["ratios"]
    pairs = " / ".join(f"{x:.3f}" for x in ratios["gui_over_headless_pairs"])
    rows = [
        (
            "val loss, causal attention (studio)",
            f"{r['studio']['val_loss']:.4f}",
            f"plain loop {r['plain']['val_loss']:.4f}",
            "",
            "<= 1.89",
        ),
        (
            "val loss, nanoGPT's bias/beta1/warmup",
            f"{r['nanogpt']['val_loss']:.4f}",
            f"defaults {r['studio']['val_loss']:.4f}",
            "",
            "report",
        ),
        (
            "val loss, xcorr attention (studio)",
            f"{r['xcorr']['val_loss']:.4f}",
            f"causal {r['studio']['val_loss']:.4f}",
            "",
            "report",
        ),
        (
            "training tokens/s, studio headless (mean of 2)",
            f"{mean['studio']:,.0f}",
            f"plain loop {mean['plain']:,.0f}",
            f"{ratios['studio_over_plain']:.3f}x",
            ">= 0.97x",
        ),
        (
            "training tokens/s, GUI open, curves live (mean of 2)",
            f"{mean['gui']:,.0f}",
            f"headless {mean['studio']:,.0f}",
            f"{ratios['gui_over_headless']:.3f}x",
            f">= 0.95x (pairs {pairs})",
        ),
        (
            "training tokens/s, xcorr",
            f"{r['xcorr']['tokens_per_s']:,.0f}",
            f"causal {mean['studio']:,.0f}",
            f"{ratios['xcorr_over_causal_speed']:.3f}x",
            "report",
        ),
        (
            "wall time (s): plain / studio / gui / xcorr",
            " / ".join(f"{r[name]['wall_s']:.0f}" for name in ("plain", "studio", "gui", "xcorr")),
            "",
            "",
            "report",
        ),
    ]
    print(f"\n{'trainer benchmark':<52} {'result':<22} {'baseline (same run)':<26} {'ratio':<8} target")
    for row in rows:
        print(f"{row[0]:<52} {row[1]:<22} {row[2]:<26} {row[3]:<8} {row[4]}")


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--mode", choices=["plain", "studio", "gui", "xcorr", "nanogpt"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.data.exists():
        raise SystemExit(f"the reference data {args.data} is missing (it lives in ../shared/data)")
    if args.mode:
        fn = {
            "plain": lambda: plain_loop(args.data, args.iters),
            "studio": lambda: studio_job(args.data, args.iters, "causal"),
            "gui": lambda: gui_job(args.data, args.iters),
            "xcorr": lambda: studio_job(args.data, args.iters, "xcorr"),
            "nanogpt": lambda: studio_job(args.data, args.iters, "causal", nanogpt=True),
        }[args.mode]
        print(json.dumps(fn()))
        return None
    results = run_all(args.data, args.iters)
    report(results)
    out = ROOT / "benchmarks" / "trainer-results.json"
    out.write_text(
        json.dumps(
            {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "iters": args.iters, **results},
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten to {out}")
    return results


if __name__ == "__main__":
    main()
