"""What optimizers share: the report, and a diff of the predictors before and after."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Progress = Callable[[int, int, str], None]


@dataclass
class OptimizeReport:
    optimizer: str
    score_before: float | None = None
    score_after: float | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = ""  # why the search ended early (budget), or ""
    candidates: list[dict[str, Any]] = field(default_factory=list)  # COPRO: every instruction tried, with its score
    errors: int = 0  # examples that could not be judged (a model call failed for good): not counted as misses
    first_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer,
            "score_before": self.score_before,
            "score_after": self.score_after,
            "changes": self.changes,
            "stopped": self.stopped,
            "candidates": self.candidates,
            "errors": self.errors,
            **({"first_error": self.first_error} if self.first_error else {}),
        }


def snapshot(program: Any) -> dict[str, dict[str, Any]]:
    return {
        name: {"instructions": p.signature.instructions, "demos": [dict(d) for d in p.demos]}
        for name, p in program.named_predictors()
    }


def describe_changes(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    changes = []
    for name, new in after.items():
        old = before.get(name, {"instructions": "", "demos": []})
        change: dict[str, Any] = {"predictor": name}
        if old["instructions"] != new["instructions"]:
            change["instructions"] = {"before": old["instructions"], "after": new["instructions"]}
        if old["demos"] != new["demos"]:
            change["demos"] = {"before": len(old["demos"]), "after": len(new["demos"])}
        if len(change) > 1:
            changes.append(change)
    return changes


def demo_for(predictor: Any, values: dict[str, Any]) -> dict[str, Any] | None:
    """The part of an example a predictor can use as a demo: all its fields, or None."""
    sig = predictor.signature
    names = sig.input_names + [n for n in sig.output_names if n != "reasoning"]
    if not all(n in values for n in names):
        return None
    return {n: values[n] for n in names + (["reasoning"] if "reasoning" in values else [])}
