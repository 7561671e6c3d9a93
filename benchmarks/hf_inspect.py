"""Hugging Face inspection benchmark (issue 19): a full inspection of a GPT-2-shaped model
(124M parameters, random init, built from a config: nothing downloaded) at 512 tokens
against a bare forward pass of the same tokens, in the same run, fp32 on the CPU.

* bare — ``model(idx, targets)`` under ``torch.no_grad``: logits at every position and
         the loss, as a forward pass that scores the text (transformers' SDPA attention)
* full — ``inspect_ids(..., attention="all")``: the hooked pass with every attention map
         of every layer and head, every token's log-probability, top-10 and entropy, direct
         logit attribution per layer and per head, activation norms: what the Inspector
         shows when it opens
* lens — the logit lens of the 12 layers before the last, which the Inspector computes
         on its worker after the inspection shows (each layer's residual stream through the
         final norm and the 50,257-token unembedding: 12 more unembeddings, reported apart)

Alternated, median of ``--runs`` after ``--warmup`` untimed ones, wall clock and process
CPU time. Target: full ≤ 1.5 × bare.

    .venv/bin/python benchmarks/hf_inspect.py [--runs 10] [--tokens 512] [--threads N] [--shape gpt2|smollm]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hf_generate import SHAPES, build  # benchmarks/hf_generate.py (this folder is on the path)
from machine import cpu_model  # benchmarks/machine.py (this folder is on the path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))


class IdTokenizer:
    """Token ids shown as numbers: the benchmark feeds ids, and only ``decode`` is asked."""

    def decode(self, ids: list[int]) -> str:
        return " ".join(map(str, ids))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="gpt2", choices=sorted(SHAPES))
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "hf-inspect-results.json")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from studio_trainer.hf.model import HFCausalLM, register_attention
    from studio_trainer.inspect import inspect_ids

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = build(args.shape, Path(tmp) / args.shape)
        hf = AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, dtype=torch.float32, attn_implementation=register_attention()
        )
    model = HFCausalLM(hf).eval()
    tokenizer = IdTokenizer()
    ids = torch.randint(model.config.vocab_size, (args.tokens,), generator=torch.Generator().manual_seed(1)).tolist()
    idx = torch.tensor([ids])

    def bare() -> None:
        with torch.no_grad():
            model(idx, idx)

    lens_seconds: list[float] = []
    lens_cpu: list[float] = []

    def full() -> None:
        inspection = inspect_ids(model, tokenizer, ids, top_k=10, attention="all")
        assert inspection._all_maps is not None and len(inspection._all_maps) == model.config.n_layer
        start, start_cpu = time.perf_counter(), time.process_time()
        assert inspection.lens_top_ids.shape == (model.config.n_layer + 1, args.tokens)  # untimed in "full"
        lens_seconds.append(time.perf_counter() - start)
        lens_cpu.append(time.process_time() - start_cpu)

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
        times["full"][-1] -= lens_seconds[-1]  # the lens read after the inspection, timed apart
        cpu["full"][-1] -= lens_cpu[-1]
    bare_ms, full_ms = (statistics.median(times[k]) * 1000 for k in ("bare", "full"))
    bare_cpu, full_cpu = (statistics.median(cpu[k]) * 1000 for k in ("bare", "full"))
    params = sum(p.numel() for p in model.parameters())
    lens_ms = statistics.median(lens_seconds[-args.runs :]) * 1000
    print(
        f"{args.shape} ({params / 1e6:.0f}M parameters), {args.tokens} tokens, {torch.get_num_threads()} threads: "
        f"bare forward {bare_ms:.0f} ms, full inspection {full_ms:.0f} ms: ratio {full_ms / bare_ms:.2f} "
        f"(target ≤ 1.5); CPU time ratio {full_cpu / bare_cpu:.2f}; the lens of the other {model.config.n_layer} "
        f"layers, after: {lens_ms:.0f} ms ({lens_ms / bare_ms:.2f}× bare); load average {os.getloadavg()[0]:.1f}"
    )
    result = {
        "model": args.shape,
        "parameters": params,
        "tokens": args.tokens,
        "runs": args.runs,
        "threads": torch.get_num_threads(),
        "bare_forward_ms": round(bare_ms, 1),
        "full_inspection_ms": round(full_ms, 1),
        "ratio": round(full_ms / bare_ms, 3),
        "cpu_ratio": round(full_cpu / bare_cpu, 3),
        "lens_of_earlier_layers_ms": round(lens_ms, 1),
        "target_ratio": 1.5,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu": cpu_model(),
        "torch": torch.__version__,
    }
    try:
        results = json.loads(args.out.read_text())
    except (OSError, ValueError):
        results = {}
    results[f"{args.shape}-{args.tokens}-{torch.get_num_threads()}-threads"] = result
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
