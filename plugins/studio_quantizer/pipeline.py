"""Quantize a checkpoint end to end — read, quantize, measure, save — for the CLI and the job."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio.api import StudioFileError

from .quantized import quantize_state_dict, read_state_dict, save_quantized, stored_transposed, summarize
from .scheme import ObserverKind, Scheme

Progress = Callable[[int, int, str], None]


def run_quantization(
    source: Path,
    scheme: Scheme,
    out: Path,
    measure_text: str | None = None,
    repeats: int = 20,
    progress: Progress | None = None,
    calibration: str | None = None,
    observer: ObserverKind = "minmax",
) -> dict[str, Any]:
    """Quantize ``source`` into ``out`` (a new folder) and report; measuring needs a text."""
    step = progress or (lambda done, total, message: None)
    text = _read_text(measure_text) if measure_text else None  # bad input is refused before any work
    calibration_text = _read_text(calibration, empty_ok=True) if calibration else text
    step(0, 3, "reading the checkpoint")
    state = read_state_dict(source)
    refuse_non_finite(state, source)
    quantized, kept, rows = quantize_state_dict(state, scheme, stored_transposed(source, state))
    if not quantized:
        raise ValueError(f"{source}: no tensor matches the scheme (2-D weights not skipped); nothing to quantize")
    step(1, 3, f"quantized {len(quantized)} tensors")
    if scheme.mode == "static":
        if calibration_text is None:
            raise ValueError("static mode needs calibration data: give a calibration text (or a text to measure on)")
        if not calibration_text.strip():
            from .quantized import QuantizeError

            raise QuantizeError(f"{calibration or measure_text}: the calibration set is empty")
    measured = (
        measure_all(
            source,
            quantized,
            scheme,
            text if text is not None else calibration_text,
            repeats,
            calibration_text,
            observer,
        )
        if calibration_text is not None
        else {}
    )
    step(2, 3, "saving")
    save_quantized(quantized, kept, scheme, source, out)
    step(3, 3, "done")
    histograms = {name: histograms_of(state[name], qt) for name, qt in quantized.items()}
    return {
        "summary": {**summarize(rows, kept, scheme), "saved": str(out)},
        "layers": rows,
        "measured": measured,
        "histograms": histograms,
    }


def refuse_non_finite(state: dict, source: Path) -> None:
    """Weights holding NaN or infinities (a run that diverged) have no scale to quantize
    with: say so before any work, naming the first such tensor."""
    import torch

    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            from .quantized import QuantizeError

            raise QuantizeError(
                f"{source}: the weights hold NaN or infinite values ({name}, first of them): "
                "the run diverged before this checkpoint; quantize an earlier one"
            )


def histograms_of(w, qt, bins: int = 64) -> dict[str, Any]:
    """What the panel plots for a layer: the weights' histogram with the quantization grid of
    its widest block (the levels q·S a value can land on; only for 4 bits and fewer, where
    they can be told apart), and the histogram of the round-trip error."""
    import torch

    w = w.detach().float().reshape(-1)
    error = qt.dequantize().reshape(-1) - w

    def hist(values: torch.Tensor) -> dict[str, list[float]]:
        lo, hi = float(values.min()), float(values.max())
        if hi <= lo:
            hi = lo + 1e-12
        counts = torch.histc(values, bins=bins, min=lo, max=hi)
        return {"edges": torch.linspace(lo, hi, bins + 1).tolist(), "counts": counts.tolist()}

    grid: list[float] = []
    if qt.bits <= 4:
        from .affine import code_range

        widest = int(torch.argmax(qt.scale.reshape(-1)))
        scale = float(qt.scale.reshape(-1)[widest])
        zeros = qt.zero_point.reshape(-1)
        zero = int(zeros[widest]) if zeros.numel() > 1 else int(zeros[0])
        qmin, qmax = code_range(qt.bits, qt.symmetric)
        grid = [(q - zero) * scale for q in range(qmin, qmax + 1)]
    return {"weights": hist(w), "error": hist(error), "grid": grid}


def measure_all(
    source: Path,
    quantized,
    scheme: Scheme,
    text: str,
    repeats: int,
    calibration_text: str | None = None,
    observer: ObserverKind = "minmax",
) -> dict[str, Any]:
    """fp32, weight-only, dynamic / static int8 as the scheme allows, all on ``text``."""
    from .measure import calibrate, dynamic_int8, load_model, measure, static_int8, weight_only

    loaded = load_model(source)
    results = {
        "fp32": measure(loaded, loaded.model, text, repeats),
        "weight_only": measure(loaded, weight_only(loaded.model, quantized), text, repeats),
    }
    if scheme.bits == 8 and scheme.symmetric and scheme.granularity in ("channel", "tensor"):
        results["dynamic_int8"] = measure(loaded, dynamic_int8(loaded.model, quantized), text, repeats)
    if scheme.mode == "static":
        names = [n.removesuffix(".weight") for n in quantized]
        observers = calibrate(loaded, names, calibration_text if calibration_text is not None else text, observer)
        results[f"static_int8_{observer}"] = measure(
            loaded, static_int8(loaded.model, quantized, observers), text, repeats
        )
    return results


def compare(source: Path, schemes: list[Scheme], measure_text: str | None = None) -> list[dict[str, Any]]:
    """One row per scheme: size, bits per weight, worst SNR and (with a text) the loss change."""
    from .measure import load_model, weight_only

    text = _read_text(measure_text) if measure_text else None
    state = read_state_dict(source)
    loaded = base = None
    if text is not None:
        loaded = load_model(source)
        base = loaded.loss(loaded.model, text)
    rows = []
    for scheme in schemes:
        quantized, kept, layer_rows = quantize_state_dict(state, scheme, stored_transposed(source, state))
        summary = summarize(layer_rows, kept, scheme)
        row = {k: summary[k] for k in ("scheme", "bits_per_weight", "linear_ratio", "model_bytes", "worst_snr_db")}
        if loaded is not None and text is not None:
            row["loss"] = loaded.loss(weight_only(loaded.model, quantized), text)
            row["loss_change"] = row["loss"] - base
        rows.append(row)
    return rows


def sensitivity(source: Path, scheme: Scheme, measure_text: str) -> list[dict[str, Any]]:
    """Quantize one tensor at a time (weight-only) and measure the loss change: the layers
    at the top deserve more bits (``layer_bits``)."""
    from .measure import load_model, weight_only

    text = _read_text(measure_text)
    state = read_state_dict(source)
    loaded = load_model(source)
    base = loaded.loss(loaded.model, text)
    quantized, _, rows = quantize_state_dict(state, scheme, stored_transposed(source, state))
    out = []
    for row in rows:
        name = row["name"]
        loss = loaded.loss(weight_only(loaded.model, {name: quantized[name]}), text)
        out.append({"name": name, "bits": row["bits"], "loss_change": loss - base, "snr_db": row["snr_db"]})
    return sorted(out, key=lambda r: -r["loss_change"])


def _read_text(path: str, empty_ok: bool = False) -> str:
    """A text to measure on or calibrate with: a regular file of UTF-8 text. Binary data
    would give a loss that means nothing, an empty text none at all: both are refused."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise StudioFileError(
            f"{path}: " + ("not a regular file (a folder, pipe or device)" if file.exists() else "no such file")
        )
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise StudioFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if b"\x00" in raw[:65536]:
        raise StudioFileError(f"{path}: a binary file (it contains NUL bytes), not text to measure on")
    text = raw.decode("utf-8", errors="replace")
    if text.count("\ufffd") > max(10, len(text) // 100):
        raise StudioFileError(f"{path}: not UTF-8 text (too many undecodable bytes)")
    if not text.strip() and not empty_ok:
        raise StudioFileError(f"{path}: the text is empty, so there is nothing to measure the loss on")
    return text
