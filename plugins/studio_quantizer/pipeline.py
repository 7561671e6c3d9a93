"""Quantize a checkpoint end to end — read, quantize, measure, save — for the CLI and the job."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from studio.api import StudioFileError

from .quantized import quantize_state_dict, read_state_dict, save_quantized, summarize
from .scheme import Scheme

Progress = Callable[[int, int, str], None]


def run_quantization(source: Path, scheme: Scheme, out: Path, measure_text: str | None = None, repeats: int = 20,
                     progress: Progress | None = None) -> dict[str, Any]:
    """Quantize ``source`` into ``out`` (a new folder) and report; measuring needs a text."""
    step = progress or (lambda done, total, message: None)
    step(0, 3, "reading the checkpoint")
    state = read_state_dict(source)
    quantized, kept, rows = quantize_state_dict(state, scheme)
    if not quantized:
        raise ValueError(f"{source}: no tensor matches the scheme (2-D weights not skipped); nothing to quantize")
    step(1, 3, f"quantized {len(quantized)} tensors")
    measured = measure_all(source, quantized, scheme, measure_text, repeats) if measure_text else {}
    step(2, 3, "saving")
    save_quantized(quantized, kept, scheme, source, out)
    step(3, 3, "done")
    return {"summary": {**summarize(rows, kept, scheme), "saved": str(out)}, "layers": rows, "measured": measured}


def measure_all(source: Path, quantized, scheme: Scheme, text_path: str, repeats: int) -> dict[str, Any]:
    from .measure import dynamic_int8, load_model, measure, weight_only

    try:
        text = Path(text_path).expanduser().read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise StudioFileError(f"{text_path}: cannot be read ({exc})") from None
    loaded = load_model(source)
    results = {"fp32": measure(loaded, loaded.model, text, repeats),
               "weight_only": measure(loaded, weight_only(loaded.model, quantized), text, repeats)}
    if scheme.bits == 8 and scheme.symmetric and scheme.granularity in ("channel", "tensor"):
        results["dynamic_int8"] = measure(loaded, dynamic_int8(loaded.model, quantized), text, repeats)
    return results
