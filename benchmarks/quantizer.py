"""Quantizer benchmarks (issue 6), each against a baseline measured in the same run.

1. Speed, on the trainer's 6-layer, 384-wide, context-256 GPT (random weights: latency
   does not depend on training): latency at batch 1 and 8 of fp32, of
   ``torch.ao.quantization.quantize_dynamic`` on the same Linear layers (the baseline), and
   of our dynamic int8 (the reference codes run by PyTorch's int8 kernel, on the engine
   ``int8_backend()`` picks: oneDNN with 8-bit activations where the CPU has VNNI / AMX).
2. Quality and size, on the trainer's reference char model (tiny shakespeare, 4 layers,
   width 128, trained here with the benchmark's reference workload): loss on the held-out
   10 % of the text, fp32 vs int8 dynamic, int8 weight-only and int4 group-32 weight-only;
   Linear-weight size vs fp32.
3. Generation, as the trainer's Generate runs it, from that model's fp32 checkpoint and
   from its int8 quantized folder (whose int8 Linear weights run on the int8 kernel).
4. The MiniLM sentence embedder (the RAG indexer's default): passages per second at batch
   32 and the cosine similarity of its embeddings to fp32's, for fp32, our dynamic int8,
   ``torch.ao``'s dynamic int8 (per tensor, and per channel), int4 group-32 weight-only and
   bf16. (Retrieval recall with each precision: benchmarks/rag.py.)

    .venv/bin/python benchmarks/quantizer.py [--iters 2000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore", message=".*quantize_per_tensor, torch.quantize_per_channel.*")
warnings.filterwarnings("ignore", category=DeprecationWarning)


def speed(repeats: int) -> dict:
    import torch
    from torch import nn

    from studio_quantizer.measure import dynamic_int8, latency_ms
    from studio_quantizer.quantized import quantize_state_dict
    from studio_quantizer.scheme import Scheme
    from studio_trainer.config import ModelConfig
    from studio_trainer.model.gpt import GPT

    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=65, dropout=0.0)).eval()
    scheme = Scheme(bits=8)
    quantized, _, _ = quantize_state_dict(dict(model.state_dict().items()), scheme)
    names = {n.removesuffix(".weight") for n in quantized}
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    baseline = quantize_dynamic(model, dict.fromkeys(names, default_dynamic_qconfig), dtype=torch.qint8)
    ours = dynamic_int8(model, quantized)  # the engine int8_backend() picks for this CPU
    ours_x86 = dynamic_int8(model, quantized, reduce_range=True, engine="x86")
    out = {}
    for batch in (1, 8):
        x = torch.randint(65, (batch, 256), generator=torch.Generator().manual_seed(batch))
        for label, m in (
            ("fp32", model),
            ("torch_ao_dynamic", baseline),
            ("ours_dynamic_int8", ours),
            ("ours_x86_engine", ours_x86),
        ):
            out[f"{label}_b{batch}_ms"] = latency_ms(m, x, repeats)
    assert all(isinstance(dict(baseline.named_modules())[n], nn.Module) for n in names)
    return out


def generate(repeats: int, tokens: int = 200) -> dict:
    """Generation from a checkpoint, as the trainer's Generate runs it: the fp32 checkpoint
    (the baseline) against its int8 quantized folder, which runs its int8 Linear weights on
    PyTorch's int8 kernel (``WeightReader.run_stored``). Same model as ``speed``."""
    import tempfile
    import time

    import torch

    from studio_quantizer.quantized import quantize_state_dict, read_state_dict, save_quantized
    from studio_quantizer.scheme import Scheme
    from studio_trainer.config import ModelConfig
    from studio_trainer.data.tokenizer import CharTokenizer
    from studio_trainer.model.gpt import GPT
    from studio_trainer.train.checkpoint import load_checkpoint, save_checkpoint
    from studio_trainer.train.sampling import sample_text

    torch.manual_seed(0)
    tokenizer = CharTokenizer.train(["".join(chr(c) for c in range(32, 96))])
    model = GPT(
        ModelConfig(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=tokenizer.vocab_size, dropout=0.0)
    )
    folder = Path(tempfile.mkdtemp(prefix="ts-quant-gen-"))
    save_checkpoint(folder / "fp32", model, tokenizer, step=0, val_loss=None)
    quantized, kept, _ = quantize_state_dict(read_state_dict(folder / "fp32"), Scheme(bits=8))  # as the CLI does
    save_quantized(quantized, kept, Scheme(bits=8), folder / "fp32", folder / "int8")
    out = {"tokens": tokens}
    for label, path, kwargs in (("fp32", folder / "fp32", {}), ("int8", folder / "int8", {"generate": True})):
        net, tok, config = load_checkpoint(path, "cpu", **kwargs)
        out[f"{label}_loaded_as"] = config.get("loaded_as", "float weights")
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            sample_text(net, tok, "TO BE", tokens, 1.0, None, seed=0)
            best = min(best, time.perf_counter() - started)
        out[f"{label}_tokens_per_s"] = tokens / best
    return out


def embedder(data: Path, repeats: int) -> dict:
    import time

    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    from studio_quantizer.measure import dynamic_int8, weight_only
    from studio_quantizer.quantized import quantize_state_dict, read_state_dict, summarize
    from studio_quantizer.scheme import Scheme, preset
    from studio_rag.embedder import minilm_path, open_embedder
    from studio_rag.loader import load

    folder = minilm_path()
    loaded = load(folder)
    text = data.read_text(encoding="utf-8")
    words = text.split()
    passages = [" ".join(words[i : i + 60]) for i in range(0, 60 * 256, 60)]
    st = open_embedder("minilm").model
    holder = st[0]
    slot = next(name for name, child in holder.named_children() if isinstance(child, torch.nn.Module))
    state = read_state_dict(folder)
    q8, kept8, rows8 = quantize_state_dict(state, Scheme(bits=8))
    q4, kept4, rows4 = quantize_state_dict(state, preset("int4-g32"))
    linears = {n.removesuffix(".weight") for n in q8}
    variants = {
        "fp32": loaded.model,
        "ours_dynamic_int8": dynamic_int8(loaded.model, q8),
        "torch_ao_dynamic_per_tensor": quantize_dynamic(
            loaded.model, dict.fromkeys(linears, default_dynamic_qconfig), dtype=torch.qint8
        ),
        "torch_ao_dynamic_per_channel": quantize_dynamic(
            loaded.model, dict.fromkeys(linears, per_channel_dynamic_qconfig), dtype=torch.qint8
        ),
        "int4_g32_weight_only": weight_only(loaded.model, q4),
        "bf16": __import__("copy").deepcopy(loaded.model).to(torch.bfloat16),
    }
    out = {
        "linear_ratio_int8": summarize(rows8, kept8, Scheme(bits=8))["linear_ratio"],
        "linear_ratio_int4_g32": summarize(rows4, kept4, preset("int4-g32"))["linear_ratio"],
    }
    for label, model in variants.items():
        setattr(holder, slot, model)
        st.encode(passages[:32], batch_size=32)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            st.encode(passages, batch_size=32)
            times.append(time.perf_counter() - t0)
        setattr(holder, slot, loaded.model)
        out[label] = {
            "passages_per_s": len(passages) / sorted(times)[len(times) // 2],
            "cosine_to_fp32": 1.0 - loaded.loss(model, text),
        }
    return out


def quality(data: Path, iters: int) -> dict:
    from trainer import studio_job

    from studio_quantizer.measure import dynamic_int8, load_model, weight_only
    from studio_quantizer.quantized import quantize_state_dict, summarize
    from studio_quantizer.scheme import Scheme

    trained = studio_job(data, iters, "causal")
    run_dir = Path(trained["run_dir"]) if "run_dir" in trained else None
    checkpoint = _best_checkpoint(run_dir)
    loaded = load_model(checkpoint)
    text = data.read_text(encoding="utf-8")
    state = dict(loaded.model.state_dict().items())
    fp32 = loaded.loss(loaded.model, text)
    out = {"fp32_loss": fp32, "train_val_loss": trained.get("val_loss")}
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    names = {n.removesuffix(".weight") for n in quantize_state_dict(state, Scheme(bits=8))[0]}
    ao = quantize_dynamic(loaded.model, dict.fromkeys(names, default_dynamic_qconfig), dtype=torch.qint8)
    out["torch_ao_dynamic"] = {"loss": loaded.loss(ao, text), "delta": loaded.loss(ao, text) - fp32}
    from studio_quantizer.measure import calibrate, static_int8

    calibration_text = text[: int(len(text) * 0.9)]  # the training part: never the text the loss is measured on
    for observer in ("minmax", "percentile", "mse"):
        quantized, kept, rows = quantize_state_dict(state, Scheme(bits=8, mode="static"))
        observers = calibrate(loaded, [n.removesuffix(".weight") for n in quantized], calibration_text, observer)
        loss = loaded.loss(static_int8(loaded.model, quantized, observers), text)
        out[f"int8_static_{observer}"] = {
            "loss": loss,
            "delta": loss - fp32,
            "linear_ratio": summarize(rows, kept, Scheme(bits=8))["linear_ratio"],
            "bits_per_weight": summarize(rows, kept, Scheme(bits=8))["bits_per_weight"],
        }
    for label, scheme, runner in (
        ("int8_dynamic", Scheme(bits=8), dynamic_int8),
        ("int8_dynamic_x86_7bit", Scheme(bits=8), lambda m, q: dynamic_int8(m, q, reduce_range=True, engine="x86")),
        ("int8_weight_only", Scheme(bits=8), weight_only),
        ("int4_g32_weight_only", Scheme(bits=4, granularity="group", group_size=32), weight_only),
    ):
        quantized, kept, rows = quantize_state_dict(state, scheme)
        loss = loaded.loss(runner(loaded.model, quantized), text)
        size = summarize(rows, kept, scheme)
        out[label] = {
            "loss": loss,
            "delta": loss - fp32,
            "linear_ratio": size["linear_ratio"],
            "bits_per_weight": size["bits_per_weight"],
        }
    return out


def _best_checkpoint(run_dir: Path | None) -> Path:
    if run_dir is None:
        raise SystemExit("the trainer job did not report its run folder")
    best = run_dir / "checkpoints" / "best"
    return best if best.exists() else sorted((run_dir / "checkpoints").glob("step-*"))[-1]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "tinyshakespeare.txt")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--parts", default="speed,generate,quality,embedder", help="comma-separated: speed, generate, quality, embedder"
    )
    args = parser.parse_args(argv)
    parts = {p.strip() for p in args.parts.split(",")}
    results: dict = {}
    if "speed" in parts:
        results["speed"] = speed(5 if args.quick else 30)
    if "generate" in parts:
        results["generate"] = generate(1 if args.quick else 3, 50 if args.quick else 200)
    if "quality" in parts:
        results["quality"] = quality(args.data, 300 if args.quick else args.iters)
    if "embedder" in parts:
        results["embedder"] = embedder(args.data, 1 if args.quick else 3)
    rows = []
    if "speed" in results:
        s = results["speed"]
        for batch in (1, 8):
            rows.append(
                (
                    f"latency b{batch}: fp32 / torch.ao dynamic / ours int8",
                    (
                        f"{s[f'fp32_b{batch}_ms']:.1f} / {s[f'torch_ao_dynamic_b{batch}_ms']:.1f} / "
                        f"{s[f'ours_dynamic_int8_b{batch}_ms']:.1f} ms"
                    ),
                    (
                        f"{s[f'ours_dynamic_int8_b{batch}_ms'] / s[f'torch_ao_dynamic_b{batch}_ms']:.3f}x torch.ao, "
                        f"{s[f'fp32_b{batch}_ms'] / s[f'ours_dynamic_int8_b{batch}_ms']:.2f}x faster than fp32"
                    ),
                    "<= 1.0x torch.ao (b8)" if batch == 8 else "report",
                )
            )
            rows.append(
                (
                    f"latency b{batch}: ours on the x86 engine (7-bit)",
                    f"{s[f'ours_x86_engine_b{batch}_ms']:.1f} ms",
                    f"{s[f'ours_x86_engine_b{batch}_ms'] / s[f'torch_ao_dynamic_b{batch}_ms']:.3f}x torch.ao",
                    "report",
                )
            )
    if "generate" in results:
        g = results["generate"]
        rows.append(
            (
                f"Generate, {g['tokens']} tokens: fp32 / int8 checkpoint",
                f"{g['fp32_tokens_per_s']:.0f} / {g['int8_tokens_per_s']:.0f} tokens/s",
                f"int8 {g['int8_tokens_per_s'] / g['fp32_tokens_per_s']:.2f}x fp32",
                "report",
            )
        )
    if "quality" in results:
        q = results["quality"]
        rows.append(("loss, fp32 (held-out 10 %)", f"{q['fp32_loss']:.4f}", f"training val {q['train_val_loss']}", ""))
        rows.append(
            ("torch.ao dynamic: loss change (baseline)", f"{q['torch_ao_dynamic']['delta']:+.4f}", "", "report")
        )
        targets = {
            "int8_dynamic": ("+0.001", 0.27),
            "int8_dynamic_x86_7bit": ("report", 0.27),
            "int8_weight_only": ("report", 0.27),
            "int8_static_minmax": ("report", 0.27),
            "int8_static_percentile": ("report", 0.27),
            "int8_static_mse": ("report", 0.27),
            "int4_g32_weight_only": ("+0.01", 0.16),
        }
        for label, (dtarget, size_target) in targets.items():
            r = q[label]
            rows.append(
                (
                    f"{label}: loss change, Linear size",
                    f"{r['delta']:+.4f}, {r['linear_ratio']:.3f}x",
                    f"{r['bits_per_weight']:.2f} bits/weight",
                    f"<= {dtarget} nats, <= {size_target}x",
                )
            )
    if "embedder" in results:
        e = results["embedder"]
        for label in (
            "fp32",
            "ours_dynamic_int8",
            "torch_ao_dynamic_per_tensor",
            "torch_ao_dynamic_per_channel",
            "int4_g32_weight_only",
            "bf16",
        ):
            r = e[label]
            rows.append(
                (
                    f"MiniLM {label}",
                    f"{r['passages_per_s']:.1f}/s, cos {r['cosine_to_fp32']:.4f}",
                    f"{r['passages_per_s'] / e['fp32']['passages_per_s']:.2f}x fp32 speed",
                    "report",
                )
            )
        rows.append(
            (
                "MiniLM Linear weights int8 / int4-g32",
                f"{e['linear_ratio_int8']:.3f}x / {e['linear_ratio_int4_g32']:.3f}x",
                "",
                "report",
            )
        )
    print(f"\n{'quantizer benchmark':<52} {'result':<28} {'baseline / ratio':<44} target")
    for row in rows:
        print(f"{row[0]:<52} {row[1]:<28} {row[2]:<44} {row[3]}")
    out = (
        ROOT
        / "benchmarks"
        / ("quantizer-results.json" if len(parts) == 4 else f"quantizer-{'-'.join(sorted(parts))}-results.json")
    )
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwritten to {out}")
    return results


if __name__ == "__main__":
    main()
