"""The quantizer's job runners: the same pipeline as the CLI, with progress, in a worker
process. Each writes its rows to the run folder (the CLI and people read those files) and
returns what the panel shows; the quantized checkpoint goes into the run folder unless an
output folder is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.api import JobContext, resolve_model, write_json

from .config import CompareParams, QuantizeParams, SensitivityParams
from .pipeline import compare as compare_schemes
from .pipeline import run_quantization
from .pipeline import sensitivity as sweep
from .scheme import Scheme, preset


def quantize(params: QuantizeParams, ctx: JobContext) -> dict[str, Any]:
    """The summary and measured losses; the whole report (layers, histograms) is the run's
    ``report.json``."""
    scheme = Scheme(
        bits=params.bits,
        symmetric=params.symmetric,
        granularity=params.granularity,
        group_size=params.group_size,
        mode=params.mode,
        skip=[p.strip() for p in params.skip.split(",") if p.strip()],
    )
    out = Path(params.out).expanduser() if params.out else ctx.run_dir / "quantized"
    report = run_quantization(
        resolve_model(params.checkpoint, ctx.folders),  # a run id, run folder or checkpoint folder
        scheme,
        out,
        params.measure_text or None,
        progress=lambda d, t, m: ctx.progress(d, t, m),
        calibration=params.calibration or None,
        observer=params.observer,
    )
    write_json(ctx.run_dir / "report.json", report)
    for i, row in enumerate(report["layers"]):
        ctx.metric("snr_db", i, row["snr_db"])
    summary = report["summary"]
    ctx.log(
        f"{summary['scheme']}: Linear weights {summary['linear_ratio']:.3f}x of fp32, "
        f"{summary['bits_per_weight']:.2f} bits per weight; worst SNR {summary['worst_snr_db']:.1f} dB"
    )
    ctx.artifact(out, "checkpoint")
    return {**summary, **{f"{k}_loss": v["loss"] for k, v in report["measured"].items() if "loss" in v}}


def compare(params: CompareParams, ctx: JobContext) -> dict[str, Any]:
    """One row per scheme (also in ``compare.json``)."""
    schemes = [preset(name) for name in params.schemes.split(",") if name.strip()]
    ctx.progress(0, 1, f"{len(schemes)} schemes")
    rows = compare_schemes(resolve_model(params.checkpoint, ctx.folders), schemes, params.measure_text or None)
    write_json(ctx.run_dir / "compare.json", rows)
    ctx.progress(1, 1, "done")
    return {"schemes": len(rows), "rows": rows}


def sensitivity(params: SensitivityParams, ctx: JobContext) -> dict[str, Any]:
    """One row per layer, most sensitive first (also in ``sensitivity.json``)."""
    rows = sweep(resolve_model(params.checkpoint, ctx.folders), preset(params.scheme), params.measure_text)
    write_json(ctx.run_dir / "sensitivity.json", rows)
    return {"layers": len(rows), "most_sensitive": rows[0]["name"] if rows else None, "rows": rows}
