"""BestOfN and Refine: run a module several times and keep the best by a reward function.

``reward(inputs, prediction) -> float``. Each attempt runs with its own ``rollout``
number, which is part of the cache key, so attempts are real new samples (set a
temperature above 0 on the predictors). BestOfN stops early once an attempt reaches
``threshold``. Refine also tells the next attempt about the last one — its outputs and
score — so the model can improve on it; the note is in the prompt, visible in the trace.
Attempts that fail (a parse error, a model error) count as reward ``-inf`` unless every
attempt fails, in which case the last error is raised.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .module import Module, StepModule, Steps, SubCall
from .settings import context, settings
from .trace import jsonable


class _WithSettings:
    """Run an operation with some settings changed (a rollout number, feedback)."""

    __slots__ = ("op", "changes")

    def __init__(self, op: Any, **changes: Any):
        self.op, self.changes = op, changes

    def run_sync(self) -> Any:
        with context(**self.changes):
            return self.op.run_sync()

    async def run_async(self) -> Any:
        with context(**self.changes):
            return await self.op.run_async()


class BestOfN(StepModule):
    feedback = False

    def __init__(self, module: Module, n: int, reward: Callable[[dict, Any], float], threshold: float | None = None):
        if n < 1:
            raise ValueError("n must be at least 1")
        self.module, self.n, self.reward, self.threshold = module, n, reward, threshold

    def span_name(self) -> str:
        return f"{type(self).__name__}(n={self.n})"

    def steps(self, **inputs: Any) -> Steps:
        best, best_score, last_error, note = None, float("-inf"), None, None
        base_rollout = settings().rollout or 0
        for attempt in range(self.n):
            changes: dict[str, Any] = {"rollout": base_rollout * self.n + attempt}
            if self.feedback and note:
                changes["feedback"] = note
            try:
                prediction = yield _WithSettings(SubCall(self.module, inputs), **changes)
            except Exception as exc:
                last_error = exc
                continue
            score = float(self.reward(inputs, prediction))
            if score > best_score:
                best, best_score = prediction, score
            if self.threshold is not None and score >= self.threshold:
                break
            note = (
                f"A previous attempt gave {json.dumps(jsonable(dict(prediction)), ensure_ascii=False)}, "
                f"which scored {score:g}"
                + (f" (the goal is {self.threshold:g})" if self.threshold is not None else "")
                + ". Improve on it."
            )
        if best is None:
            raise last_error  # type: ignore[misc]
        return best


class Refine(BestOfN):
    feedback = True
