"""Inspection engine benchmark (issue 18): a full inspection of 256 tokens against a bare
forward pass of the same tokens, in the same run.

Model: a 6-layer, 384-wide char GPT (6 heads, context 256, vocabulary 65), random init
(speed does not depend on the weights), fp32 on the CPU.

* bare    — ``model(idx, targets)`` under ``torch.no_grad``: logits at every position
            (and the loss), as a forward pass that scores the text.
* full    — ``inspect_ids(..., attention="all")``: the hooked forward pass, every
            attention map of every layer and head, the logit lens of every layer,
            direct logit attribution (per layer and per head), activation norms,
            top-10 per position. The MLP activation histograms are not in it: they
            are computed when first read (the Inspector: on its worker after it shows
            the inspection; about 1 ms per layer here).

Median of ``--runs`` timings of each after ``--warmup`` untimed ones, alternating the two
so both see the same machine state, in wall-clock time and in the process's CPU time (on
a shared, busy machine the CPU time of a one-thread run is the steadier measure; both
ratios are written). Target: full ≤ 1.5 × bare.

    .venv/bin/python benchmarks/inspect_engine.py [--runs 30] [--threads N] [--attention xcorr]

The results file keeps one entry per attention type and thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--attention", default="causal", choices=["causal", "xcorr"])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "inspect-engine-results.json")
    args = parser.parse_args()

    import torch

    from studio_trainer.config import ModelConfig
    from studio_trainer.data.tokenizer import CharTokenizer
    from studio_trainer.inspect import inspect_ids
    from studio_trainer.model.gpt import GPT

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    chars = [chr(c) for c in range(32, 96)]  # 64 characters + end-of-text: vocabulary 65
    tokenizer = CharTokenizer(chars)
    config = ModelConfig(
        n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=tokenizer.vocab_size, attention=args.attention
    )
    model = GPT(config).float().eval()
    ids = torch.randint(1, tokenizer.vocab_size, (args.tokens,), generator=torch.Generator().manual_seed(1)).tolist()
    idx = torch.tensor([ids])

    def bare() -> None:
        with torch.no_grad():
            model(idx, idx)

    def full() -> None:
        inspection = inspect_ids(model, tokenizer, ids, top_k=10, attention="all")
        assert inspection._all_maps is not None and len(inspection._all_maps) == 6  # every map, held

    for _ in range(args.warmup):
        bare()
        full()
    times: dict[str, list[float]] = {"bare": [], "full": []}
    cpu: dict[str, list[float]] = {"bare": [], "full": []}
    for _ in range(args.runs):
        for name, fn in (("bare", bare), ("full", full)):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    bare_ms = statistics.median(times["bare"]) * 1000
    full_ms = statistics.median(times["full"]) * 1000
    bare_cpu = statistics.median(cpu["bare"]) * 1000
    full_cpu = statistics.median(cpu["full"]) * 1000
    result = {
        "model": {"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256, "vocab_size": 65},
        "attention": args.attention,
        "tokens": args.tokens,
        "runs": args.runs,
        "threads": torch.get_num_threads(),
        "bare_forward_ms": round(bare_ms, 2),
        "full_inspection_ms": round(full_ms, 2),
        "ratio": round(full_ms / bare_ms, 3),
        "bare_forward_cpu_ms": round(bare_cpu, 2),
        "full_inspection_cpu_ms": round(full_cpu, 2),
        "cpu_ratio": round(full_cpu / bare_cpu, 3),
        "min_ratio": round(min(times["full"]) / min(times["bare"]), 3),
        "min_cpu_ratio": round(min(cpu["full"]) / min(cpu["bare"]), 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "target_ratio": 1.5,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.processor() or platform.machine(),
    }
    print(
        f"bare forward {bare_ms:.1f} ms, full inspection {full_ms:.1f} ms: "
        f"ratio {full_ms / bare_ms:.2f} (target ≤ 1.5) [{args.attention}, {args.tokens} tokens, "
        f"{torch.get_num_threads()} threads]; CPU time {bare_cpu:.1f} vs {full_cpu:.1f} ms: "
        f"ratio {full_cpu / bare_cpu:.2f}; fastest runs: ratio {min(times['full']) / min(times['bare']):.2f} "
        f"(CPU {min(cpu['full']) / min(cpu['bare']):.2f}); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    # one entry per configuration, so runs with other threads or attention types sit side by side
    try:
        results = json.loads(args.out.read_text())
    except (OSError, ValueError):
        results = {}
    if not isinstance(results, dict) or "ratio" in results:
        results = {}
    results[f"{args.attention}-{torch.get_num_threads()}-threads"] = result
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
