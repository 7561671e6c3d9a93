"""Hugging Face generation benchmark (issue 19): the studio's generation of a transformers
model, with every token's log-probability, top-20 alternatives and entropy recorded,
against plain ``transformers`` ``generate`` on the same model, same settings, same run.

Model: a randomly initialised model of a real model's shape, built from a config (speed
does not depend on the weights; nothing is downloaded): ``--shape smollm`` (Llama,
SmolLM-135M's: 30 layers × 576, 9 query heads on 3 key/value heads, vocabulary 49,152) or
``--shape gpt2`` (GPT-2 124M: 12 × 768, vocabulary 50,257). ``--folder DIR`` takes a real
local folder instead. fp32 on the CPU, greedy, ``--new`` tokens after a ``--prompt``-token
prompt, no early stop.

* transformers — ``model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)``
* studio       — ``HFCausalLM.generate`` with a ``StepRecorder`` (what the Generate panel,
                 the generate job and ``hf/<folder>`` model calls run)

Both produce the same tokens (checked). Alternated, median of ``--runs`` after one warm-up
each. Target: studio ≥ 0.95 × transformers tokens/s.

    .venv/bin/python benchmarks/hf_generate.py [--shape smollm|gpt2] [--runs 5] [--threads N]
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

from machine import cpu_model  # benchmarks/machine.py (this folder is on the path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))


SHAPES = {
    "smollm": {
        "family": "llama",
        "vocab_size": 49152,
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": True,
    },
    "gpt2": {"family": "gpt2", "vocab_size": 50257, "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024},
}


def build(shape: str, folder: Path) -> Path:
    """A random model of ``shape`` saved as a Hugging Face folder (weights only: the benchmark
    feeds token ids, so no tokenizer is needed)."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

    spec = dict(SHAPES[shape])
    family = spec.pop("family")
    config = GPT2Config(**spec) if family == "gpt2" else LlamaConfig(**spec)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder, safe_serialization=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="smollm", choices=sorted(SHAPES))
    parser.add_argument("--folder", type=Path, help="a local Hugging Face folder instead of a random model")
    parser.add_argument("--prompt", type=int, default=32, help="prompt tokens")
    parser.add_argument("--new", type=int, default=64, help="generated tokens")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "hf-generate-results.json")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from studio_trainer.hf.model import HFCausalLM, register_attention
    from studio_trainer.model.recording import StepRecorder

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or build(args.shape, Path(tmp) / args.shape)
        # the same weights twice: as transformers loads them by default, and as the studio does
        plain = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=torch.float32).eval()
        hf = AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, dtype=torch.float32, attn_implementation=register_attention()
        ).eval()
    studio = HFCausalLM(hf).eval()
    vocab = plain.config.vocab_size
    ids = torch.randint(vocab, (1, args.prompt), generator=torch.Generator().manual_seed(1))
    n = args.new

    def run_transformers() -> list[int]:
        with torch.no_grad():
            out = plain.generate(
                ids, max_new_tokens=n, min_new_tokens=n, do_sample=False, pad_token_id=0, eos_token_id=None
            )
        return out[0, args.prompt :].tolist()

    def run_studio() -> list[int]:
        recorder = StepRecorder(20)
        out = studio.generate(ids, n, temperature=0.0, recorder=recorder)
        assert len(recorder.result()) == n
        return out[0, args.prompt :].tolist()

    same = run_transformers() == run_studio()  # also the warm-up
    seconds: dict[str, list[float]] = {"transformers": [], "studio": []}
    for _ in range(args.runs):
        for name, fn in (("transformers", run_transformers), ("studio", run_studio)):
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    rate = {name: n / statistics.median(times) for name, times in seconds.items()}
    ratio = rate["studio"] / rate["transformers"]
    params = sum(p.numel() for p in plain.parameters())
    print(
        f"{args.folder or args.shape} ({params / 1e6:.0f}M parameters), {args.prompt}+{n} tokens, greedy, "
        f"{torch.get_num_threads()} threads: transformers generate {rate['transformers']:.1f} tok/s, studio "
        f"with log-probabilities recorded {rate['studio']:.1f} tok/s: ratio {ratio:.3f} (target ≥ 0.95); "
        f"same tokens: {same}; load average {os.getloadavg()[0]:.1f}"
    )
    result = {
        "model": str(args.folder or args.shape),
        "parameters": params,
        "prompt_tokens": args.prompt,
        "new_tokens": n,
        "runs": args.runs,
        "threads": torch.get_num_threads(),
        "transformers_tokens_per_s": round(rate["transformers"], 2),
        "studio_tokens_per_s": round(rate["studio"], 2),
        "ratio": round(ratio, 3),
        "target_ratio": 0.95,
        "same_tokens": same,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpu": cpu_model(),
        "torch": torch.__version__,
    }
    try:
        results = json.loads(args.out.read_text())
    except (OSError, ValueError):
        results = {}
    results[f"{args.folder.name if args.folder else args.shape}-{torch.get_num_threads()}-threads"] = result
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
