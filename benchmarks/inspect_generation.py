"""Generation speed (issue 18): the cost of recording each token's log-probability, top-20
and entropy, and the speed-up of the key/value cache, each measured in the same run.

Model: the trainer's 6-layer, 384-wide char GPT (6 heads, context 256, vocabulary 65,
random weights: speed does not depend on training), on the CPU. Workload: a 16-token
prompt and 240 new tokens (the context is full at the end), sampled at temperature 1
with a fixed seed. Variants, interleaved (a b c d d c, then b a d c c d, ...) against drift:

  a. no cache, no recording (the path before this issue)
  b. no cache, recording          -> recording overhead against a
  c. cache, recording             -> cache speed-up against b (and a)
  d. cache, no recording          -> recording overhead on the cached path (per token it
                                     is much cheaper, so the same few kernels weigh more)

Medians of ``--runs`` (the cached variants run twice per run); the overheads are given
from the medians and, as ``_paired``, as medians of the ratios of the variants run next
to each other (b/a, c/d). The recorder's own cost per token is also timed alone on the
model's logits (no model), and inside a cached generation (its calls' share of the time),
both far less exposed to the machine's noise than whole runs. Greedy replies with and
without the cache are checked identical in the same run, and so are the seeded samples
of all four variants.

    .venv/bin/python benchmarks/inspect_generation.py [--runs 5] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from machine import cpu_model  # benchmarks/machine.py (this folder is on the path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT))

VARIANTS = {"a": (False, False), "b": (False, True), "c": (True, True), "d": (True, False)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=240)
    parser.add_argument("--quick", action="store_true", help="2 runs of 48 tokens (a smoke test)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("inspect-generation-results.json"))
    args = parser.parse_args()
    if args.quick:
        args.runs, args.new_tokens = 2, 48

    import torch

    from studio_trainer.config import ModelConfig
    from studio_trainer.model.gpt import GPT
    from studio_trainer.model.recording import StepRecorder

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = ModelConfig(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=65, dropout=0.0)
    model = GPT(config).eval()
    prompt = torch.randint(0, 65, (1, args.prompt_tokens), generator=torch.Generator().manual_seed(1))
    n = args.new_tokens

    def run(use_cache: bool, record: bool, temperature: float = 1.0) -> tuple[float, torch.Tensor]:
        recorder = StepRecorder(20) if record else None
        generator = torch.Generator().manual_seed(7)
        start = time.perf_counter()
        out = model.generate(prompt, n, temperature, None, generator=generator, recorder=recorder, use_cache=use_cache)
        if recorder is not None:
            recorder.result()  # the conversion to lists belongs to the recording's cost
        return time.perf_counter() - start, out

    load_before = os.getloadavg()[0]
    run(True, True)  # warm-up (allocator, kernels)
    run(False, False)
    seconds: dict[str, list[float]] = {k: [] for k in VARIANTS}
    outputs: dict[str, torch.Tensor] = {}
    for r in range(args.runs):
        # the cheap cached variants twice, in A-B-B-A order, which cancels a steady drift
        for key in ["a", "b", "c", "d", "d", "c"] if r % 2 == 0 else ["b", "a", "d", "c", "c", "d"]:
            took, out = run(*VARIANTS[key])
            seconds[key].append(took)
            outputs[key] = out
        print(f"run {r + 1}/{args.runs}: " + ", ".join(f"{k} {n / seconds[k][-1]:.1f} tok/s" for k in VARIANTS))
    greedy_plain, greedy_cached = run(False, True, 0.0)[1], run(True, True, 0.0)[1]

    # the recorder alone: the same kernels on logits of the model's shape, no model
    recorder, logits, token = StepRecorder(20), torch.randn(65), torch.tensor([3])
    recorder.begin(n, 65, torch.device("cpu"))
    calls = []
    for _ in range(5):
        recorder.n = 0
        start = time.perf_counter()
        for _ in range(n):
            recorder.record(logits, token)
        recorder.result()
        calls.append((time.perf_counter() - start) / n)
    record_us = statistics.median(calls) * 1e6

    # the recorder inside a cached generation: its calls timed where they run (their
    # cache and allocator effects on themselves included), against the whole step
    class TimedRecorder(StepRecorder):
        spent = 0.0

        def record(self, logits, token):
            start = time.perf_counter()
            super().record(logits, token)
            self.spent += time.perf_counter() - start

    timed = TimedRecorder(20)
    start = time.perf_counter()
    model.generate(prompt, n, 1.0, None, generator=torch.Generator().manual_seed(7), recorder=timed)
    timed.result()
    in_situ_pct = 100 * timed.spent / (time.perf_counter() - start)

    tps = {k: n / statistics.median(v) for k, v in seconds.items()}

    def paired(slow: str, fast: str) -> float:
        """Median over runs of how much longer ``slow`` took than ``fast``, in %."""
        return 100 * (statistics.median(s / f for s, f in zip(seconds[slow], seconds[fast], strict=True)) - 1)

    results = {
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "threads": args.threads,
        "load_average_before_after": [load_before, os.getloadavg()[0]],  # other work on the machine
        "model": "6 layers x 384, 6 heads, context 256, vocabulary 65 (random weights)",
        "prompt_tokens": args.prompt_tokens,
        "new_tokens": n,
        "runs": args.runs,
        "tokens_per_second": {
            "a_no_cache": tps["a"],
            "b_no_cache_recording": tps["b"],
            "c_cache_recording": tps["c"],
            "d_cache": tps["d"],
        },
        "seconds": seconds,
        "recording_overhead_no_cache_pct": 100 * (tps["a"] / tps["b"] - 1),
        "recording_overhead_cache_pct": 100 * (tps["d"] / tps["c"] - 1),
        "recording_overhead_no_cache_pct_paired": paired("b", "a"),
        "recording_overhead_cache_pct_paired": paired("c", "d"),
        "recorder_alone_us_per_token": record_us,
        "recorder_alone_pct_of_token_no_cache": 100 * record_us * 1e-6 * tps["a"],
        "recorder_alone_pct_of_token_cache": 100 * record_us * 1e-6 * tps["d"],
        "recorder_in_cached_generation_pct_of_time": in_situ_pct,
        "cache_speedup_vs_b": tps["c"] / tps["b"],
        "cache_speedup_vs_a": tps["c"] / tps["a"],
        "identical_greedy": bool(torch.equal(greedy_plain, greedy_cached)),
        "identical_seeded_samples": bool(
            torch.equal(outputs["a"], outputs["b"])
            and torch.equal(outputs["b"], outputs["c"])
            and torch.equal(outputs["c"], outputs["d"])
        ),
    }
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "seconds"}, indent=1))


if __name__ == "__main__":
    main()
