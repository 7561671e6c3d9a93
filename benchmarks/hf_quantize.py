"""Hugging Face quantization benchmark (issue 19): fp32 against the quantizer's int8
weight-only and dynamic int8 (PyTorch's int8 Linear kernel on the stored codes) on one
causal LM, same run: forward tokens/s over a batch and the loss on tinyshakespeare.

Model: ``--folder DIR`` (a local HF folder with safetensors and a tokenizer) or, by default,
a random Llama-shaped model built by ``studio.tiny_hf.tiny_hf_model`` (byte-level BPE
tokenizer, nothing downloaded): ``--layers 12 --hidden 768`` ≈ 90M parameters. Random
weights: the loss is near log(vocab) and its change is what matters, not its value.
The loss is the quantizer's (``studio_model_loaders`` → mean next-token loss on the last
10 % of the text, context-long windows), on ``--chars`` characters of the text.

    .venv/bin/python benchmarks/hf_quantize.py [--folder DIR] [--layers 12 --hidden 768]
        [--batch 8 --seq 128] [--runs 5] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model  # benchmarks/machine.py (this folder is on the path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT))
TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def tokens_per_s(model, vocab: int, batch: int, seq: int, runs: int) -> float:
    """Forward passes over a [batch, seq] batch of token ids: median tokens per second."""
    import torch

    ids = torch.randint(0, vocab, (batch, seq), generator=torch.Generator().manual_seed(0))
    times = []
    with torch.inference_mode():
        model(ids)  # warm-up
        for _ in range(runs):
            start = time.perf_counter()
            model(ids)
            times.append(time.perf_counter() - start)
    return batch * seq / statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chars", type=int, default=200_000, help="characters of the text to measure on")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from studio_quantizer.measure import dynamic_int8, load_model, weight_only
    from studio_quantizer.quantized import quantize_state_dict, read_state_dict, stored_transposed
    from studio_quantizer.scheme import preset

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder
        if folder is None:
            from studio.tiny_hf import tiny_hf_model

            folder = tiny_hf_model(Path(tmp) / "llama", "llama", layers=args.layers, hidden=args.hidden, context=512)
        text = TEXT.read_text(encoding="utf-8")[: args.chars]
        state = read_state_dict(folder)
        quantized, _, _ = quantize_state_dict(state, preset("int8"), stored_transposed(folder, state))
        loaded = load_model(folder)  # the quantizer's loader: studio_trainer.hf.measure through the hook
        params = sum(p.numel() for p in loaded.model.parameters())
        vocab = int(loaded.model.config.vocab_size)
        models = {
            "fp32": loaded.model,
            "int8 weight-only": weight_only(loaded.model, quantized),
            "dynamic int8": dynamic_int8(loaded.model, quantized),
        }
        print(
            f"# {folder if args.folder else f'random Llama {args.layers} × {args.hidden}'}: {params / 1e6:.1f}M "
            f"parameters, {len(quantized)} Linear layers int8 per channel; {cpu_model()}, "
            f"{torch.get_num_threads()} threads; batch {args.batch} × {args.seq}, median of {args.runs}"
        )
        print(f"{'model':<18}{'tokens/s':>12}{'speed-up':>10}{'loss':>10}{'Δ loss':>10}")
        base_speed = base_loss = None
        for name, model in models.items():
            speed = tokens_per_s(model, vocab, args.batch, args.seq, args.runs)
            loss = loaded.loss(model, text)
            base_speed = base_speed or speed
            base_loss = loss if base_loss is None else base_loss
            print(f"{name:<18}{speed:>12,.0f}{speed / base_speed:>9.2f}×{loss:>10.4f}{loss - base_loss:>+10.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
