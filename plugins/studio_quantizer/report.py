"""The quantize report (``report.json`` of a quantize run) as people read it: the CLI prints
it, the panel shows it. No torch here: the panel imports this module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.api import read_json


def loss_text(figures: dict[str, Any]) -> str:
    """'loss 1.9012 (ppl 6.69) · ', or for a model whose loss is not in nats its own name."""
    if "loss" not in figures:
        return ""
    if "perplexity" in figures:
        return f"loss {figures['loss']:.4f} (ppl {figures['perplexity']:.2f}) · "
    return f"{figures.get('loss_name', 'loss')} {figures['loss']:.5f} · "


def read_report(path: Path) -> dict[str, Any]:
    """A quantize run's ``report.json``; a file that is not one raises ValueError saying so
    (StudioFileError for one that cannot be read as JSON)."""
    report = read_json(Path(path))
    if (
        not isinstance(report, dict)
        or not isinstance(report.get("summary"), dict)
        or not isinstance(report.get("layers"), list)
    ):
        raise ValueError(f"{path} is not a quantize report (no summary and layers)")
    return report
