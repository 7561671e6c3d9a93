"""Few-shot optimizers: demos from labeled data, or bootstrapped from a teacher's good runs."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from studio.api import JobCancelled

from ..data import Example
from ..evaluate import find_cause, get_metric, one_line
from ..lm import BudgetExceeded
from ..predict import ParseError
from ..settings import context
from .base import OptimizeReport, Progress, demo_for, describe_changes, snapshot


class LabeledFewShot:
    """Each predictor gets ``k`` training examples (sampled with ``seed``) as demos."""

    def __init__(self, k: int = 4, seed: int = 0):
        self.k, self.seed = k, seed

    async def compile(self, program: Any, trainset: list[Example], progress: Progress | None = None):
        student = program.deepcopy()
        before = snapshot(student)
        rng = random.Random(self.seed)
        for _name, predictor in student.named_predictors():
            usable = [d for d in (demo_for(predictor, ex) for ex in trainset) if d is not None]
            predictor.demos = rng.sample(usable, min(self.k, len(usable)))
        if progress:
            progress(1, 1, "demos chosen")
        return student, OptimizeReport("labeled", changes=describe_changes(before, snapshot(student)))


class BootstrapFewShot:
    """Run a teacher (the program itself, by default) on training examples; where the result
    passes the metric, every predictor call on the way becomes a demo for that predictor.
    Predictors are matched by name, so this works for modules and workflows alike. Up to
    ``max_labeled_demos`` plain labeled examples fill the remaining slots. A teacher run
    that errored (a model call failed for good, a crash — not an unreadable reply, which
    is a miss) is no miss: it is counted in the report's ``errors``."""

    def __init__(
        self,
        metric: Any = "exact_match",
        max_bootstrapped_demos: int = 4,
        max_labeled_demos: int = 4,
        threshold: float = 1.0,
        concurrency: int = 8,
        teacher: Any = None,
    ):
        self.metric = get_metric(metric)
        self.max_boot, self.max_labeled = max_bootstrapped_demos, max_labeled_demos
        self.threshold, self.concurrency, self.teacher = threshold, concurrency, teacher

    async def compile(self, program: Any, trainset: list[Example], progress: Progress | None = None):
        student = program.deepcopy()
        teacher = (self.teacher or program).deepcopy()
        before = snapshot(student)
        predictors = dict(student.named_predictors())
        teacher_names = {id(p): name for name, p in teacher.named_predictors()}
        bootstrapped: dict[str, list[dict[str, Any]]] = {name: [] for name in predictors}
        used: set[int] = set()
        done, stopped = 0, ""
        errors: list[str] = []
        slots = asyncio.Semaphore(self.concurrency)
        limiter = asyncio.Semaphore(self.concurrency)

        async def run(i: int, example: Example) -> None:
            nonlocal done, stopped
            async with slots:
                if stopped or all(len(v) >= self.max_boot for v in bootstrapped.values()):
                    return
                calls: list[tuple[Any, dict, dict]] = []
                try:
                    with context(recorder=calls, limiter=limiter):
                        prediction = await teacher.acall(**example.inputs())
                    score = self.metric(example, prediction)
                except Exception as exc:
                    if budget := find_cause(exc, BudgetExceeded):
                        stopped = str(budget)
                        return
                    if find_cause(exc, JobCancelled):
                        raise
                    score = 0.0  # the teacher answered, unreadably: a miss
                    if not find_cause(exc, ParseError):
                        errors.append(f"{type(exc).__name__}: {exc}")
                        score = None
                done += 1
                if progress:
                    progress(done, len(trainset), f"{sum(map(len, bootstrapped.values()))} demos")
                if score is None or float(score) < self.threshold:
                    return
                for predictor, inputs, outputs in calls:
                    name = teacher_names.get(id(predictor))
                    if name in bootstrapped and len(bootstrapped[name]) < self.max_boot:
                        bootstrapped[name].append({**inputs, **outputs})
                        used.add(i)

        await asyncio.gather(*(run(i, ex) for i, ex in enumerate(trainset)))
        for name, predictor in predictors.items():
            labeled = [
                d for d in (demo_for(predictor, ex) for i, ex in enumerate(trainset) if i not in used) if d is not None
            ][: self.max_labeled]
            predictor.demos = bootstrapped[name] + labeled
        report = OptimizeReport(
            "bootstrap",
            changes=describe_changes(before, snapshot(student)),
            stopped=stopped,
            errors=len(errors),
            first_error=one_line(errors[0]) if errors else "",
        )
        return student, report
