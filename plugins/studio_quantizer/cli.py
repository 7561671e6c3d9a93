"""``tensor-studio quantize CHECKPOINT …``: quantize a studio checkpoint and print the report;
``tensor-studio quantize --dequantize QUANTIZED --out DIR`` writes a float checkpoint back."""

from __future__ import annotations

import json
from pathlib import Path

from studio.api import CliContext, Folders, resolve_model

from .report import loss_text


def configure(parser) -> None:
    parser.add_argument(
        "checkpoint",
        help="a run id of the workspace, a run folder or a checkpoint folder (model.safetensors + config.json); "
        "a quantized folder (or a quantize run) with --dequantize",
    )
    parser.add_argument("--bits", type=int, default=8, help="2 to 8 (default 8)")
    parser.add_argument("--asymmetric", action="store_true", help="fit a zero point to each range")
    parser.add_argument("--granularity", choices=["tensor", "channel", "group"], default="channel")
    parser.add_argument("--group-size", type=int, default=32)
    parser.add_argument(
        "--skip",
        action="append",
        default=None,
        metavar="PATTERN",
        help="tensor names kept in full precision (default: the embeddings and the output head)",
    )
    parser.add_argument(
        "--layer-bits",
        action="append",
        default=[],
        metavar="PATTERN=BITS",
        help="bits for matching tensors, e.g. 'blocks.0.*=8'",
    )
    parser.add_argument("--out", default=None, help="output folder (default: CHECKPOINT-<scheme>); never overwritten")
    parser.add_argument("--dequantize", action="store_true", help="write a float checkpoint from a quantized one")
    parser.add_argument(
        "--measure",
        default=None,
        metavar="TEXT_FILE",
        help="also measure loss / perplexity on the last 10%% of this text and latency at "
        "batch 1 and 8: fp32, weight-only, and dynamic int8 (8-bit symmetric schemes)",
    )
    parser.add_argument(
        "--repeats", type=int, default=20, help=f"timed forward passes per latency figure (1 to {MAX_REPEATS})"
    )
    parser.add_argument(
        "--compare",
        default=None,
        metavar="SCHEMES",
        help="compare schemes instead of saving one, e.g. int8,int4-g32,int4-g128-asym "
        "(with --measure: the loss change of each)",
    )
    parser.add_argument(
        "--sensitivity",
        action="store_true",
        help="with --measure: quantize one layer at a time and list the loss change of each",
    )
    parser.add_argument(
        "--mode",
        choices=["weight_only", "dynamic", "static"],
        default="weight_only",
        help="static: activations with ranges fixed by calibration (measured with --measure)",
    )
    parser.add_argument(
        "--calibration",
        default=None,
        metavar="TEXT_FILE",
        help="static mode: calibration text (its held-out part is run through the model)",
    )
    parser.add_argument(
        "--observer",
        choices=["minmax", "percentile", "mse"],
        default="minmax",
        help="static mode: how the activation range is chosen",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


MAX_REPEATS = 10_000
#: scheme fields as the flags that set them, for error messages
FLAGS = {
    "bits": "--bits",
    "group_size": "--group-size",
    "granularity": "--granularity",
    "mode": "--mode",
    "symmetric": "--asymmetric",
    "skip": "--skip",
    "layer_bits": "--layer-bits",
}


def run(args, ctx: CliContext) -> int:
    """Flags are checked before any work; a scheme pydantic refuses becomes one line. It
    runs in this process (no job, no run folder): the output goes where ``--out`` says."""
    from pydantic import ValidationError

    if not 1 <= args.repeats <= MAX_REPEATS:
        raise ValueError(f"--repeats: must be 1 to {MAX_REPEATS}, not {args.repeats}")
    try:
        return _run(args, ctx.folders)
    except ValidationError as exc:
        raise ValueError(one_line(exc)) from None


def one_line(exc) -> str:
    """pydantic's errors as ``--flag: message; …``."""

    def where(loc: tuple) -> str:
        return FLAGS.get(str(loc[0]) if loc else "", ".".join(map(str, loc)) or "value")

    return "; ".join(f"{where(e['loc'])}: {e['msg']}" for e in exc.errors())


def _run(args, folders: Folders) -> int:
    from .pipeline import run_quantization
    from .quantized import export_dequantized
    from .scheme import Scheme

    source = resolve_model(args.checkpoint, folders)  # a run id, run folder, checkpoint or quantized folder
    if args.compare:
        return _compare(source, args)
    if args.dequantize:
        out = Path(args.out) if args.out else source.with_name(source.name + "-dequantized")
        print(export_dequantized(source, out))
        return 0
    layer_bits = {}
    for item in args.layer_bits:
        pattern, sep, bits = item.partition("=")
        if not sep or not bits.isdigit() or not 2 <= int(bits) <= 8:
            raise ValueError(f"--layer-bits expects PATTERN=BITS with BITS 2 to 8, got {item!r}")
        layer_bits[pattern] = int(bits)
    scheme = Scheme(
        bits=args.bits,
        symmetric=not args.asymmetric,
        granularity=args.granularity,
        group_size=args.group_size,
        layer_bits=layer_bits,
        mode=args.mode,
        **({"skip": args.skip} if args.skip is not None else {}),
    )
    if args.sensitivity:
        return _sensitivity(source, scheme, args)
    out = Path(args.out) if args.out else source.with_name(f"{source.name}-{scheme.label()}")
    report = run_quantization(
        source, scheme, out, args.measure, args.repeats, calibration=args.calibration, observer=args.observer
    )
    summary, rows, measured = report["summary"], report["layers"], report["measured"]
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{summary['scheme']}: {summary['quantized_tensors']} tensors, {summary['quantized_weights']:,} weights")
    print(
        f"  Linear weights {summary['linear_fp32_bytes'] / 1e6:.3f} MB -> {summary['linear_bytes'] / 1e6:.3f} MB "
        f"({summary['linear_ratio']:.3f}x, {summary['bits_per_weight']:.2f} bits per weight)"
    )
    print(f"  model {summary['model_fp32_bytes'] / 1e6:.3f} MB -> {summary['model_bytes'] / 1e6:.3f} MB")
    print(f"  {'tensor':32} {'bits':>4} {'scale range':>21} {'MSE':>10} {'SNR dB':>7}")
    for row in rows:
        print(
            f"  {row['name']:32} {row['bits']:>4} {row['scale_min']:>10.2e}..{row['scale_max']:<9.2e} "
            f"{row['mse']:>10.2e} {row['snr_db']:>7.1f}"
        )
    for label, figures in measured.items():
        print(
            f"  {label:13} {loss_text(figures)}latency b1 {figures['latency_ms_b1']:.2f} ms · "
            f"b8 {figures['latency_ms_b8']:.2f} ms"
        )
    print(f"saved {out}")
    return 0


def _compare(source: Path, args) -> int:
    from .pipeline import compare
    from .scheme import preset

    rows = compare(source, [preset(name) for name in args.compare.split(",") if name.strip()], args.measure)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    loss = "loss change" if args.measure else ""
    print(f"{'scheme':28} {'bits/weight':>11} {'Linear size':>11} {'worst SNR':>10} {loss:>12}")
    for r in rows:
        change = f"{r['loss_change']:+12.4f}" if "loss_change" in r else ""
        print(
            f"{r['scheme']:28} {r['bits_per_weight']:>11.2f} {r['linear_ratio']:>10.3f}x "
            f"{r['worst_snr_db']:>8.1f}dB {change}"
        )
    return 0


def _sensitivity(source: Path, scheme, args) -> int:
    from .pipeline import sensitivity

    if not args.measure:
        raise ValueError("--sensitivity needs --measure TEXT_FILE (the loss is measured on it)")
    rows = sensitivity(source, scheme, args.measure)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{scheme.label()}, one tensor at a time (most sensitive first):")
    for r in rows:
        print(f"  {r['name']:32} loss change {r['loss_change']:+.5f}  SNR {r['snr_db']:.1f} dB")
    return 0
