"""COPRO-style instruction search, one predictor at a time.

For each predictor: a prompt model proposes ``breadth`` instructions (the current one is
always a candidate); each is scored by evaluating the whole program on the training set;
then for ``depth`` rounds the prompt model sees every instruction tried so far with its
score and proposes better ones. The best instruction is kept before moving to the next
predictor. Proposals are sampled at ``temperature`` with distinct rollout numbers, so they
differ even with the cache on. Every candidate and score is in the report. A candidate
whose evaluation had errors (model calls that failed for good) has no comparable score:
the search stops there, as on a spent budget, with the errors in the report.
"""

from __future__ import annotations

from typing import Any

from ..data import Example
from ..evaluate import EvaluationErrors, evaluate, get_metric, one_line
from ..lm import BudgetExceeded
from ..predict import Predict
from ..settings import context
from .base import OptimizeReport, Progress, describe_changes, snapshot

PROPOSE = (
    "You are an instruction optimizer for large language models. I will give you a signature of fields "
    "(inputs and outputs) in English and the current instruction. Propose an improved instruction that "
    "will lead a good language model to perform the task well. Reply with the instruction only."
)
REFINE = (
    "You are an instruction optimizer for large language models. I will give you instructions tried before "
    "for a task, each with its validation score (higher is better). Propose a new instruction that will "
    "score higher than all of them. Reply with the instruction only."
)


class COPRO:
    def __init__(
        self,
        metric: Any = "exact_match",
        breadth: int = 4,
        depth: int = 2,
        temperature: float = 1.0,
        prompt_model: Any = None,
        concurrency: int = 8,
    ):
        if breadth < 2:
            raise ValueError("breadth must be at least 2 (the current instruction and one proposal)")
        self.metric = get_metric(metric)
        self.breadth, self.depth, self.temperature = breadth, depth, temperature
        self.concurrency = concurrency
        self.propose = Predict(
            "signature: str, current_instruction: str -> proposed_instruction: str",
            instructions=PROPOSE,
            lm=prompt_model,
            temperature=temperature,
            name="copro.propose",
        )
        self.refine = Predict(
            "signature: str, attempts: str -> proposed_instruction: str",
            instructions=REFINE,
            lm=prompt_model,
            temperature=temperature,
            name="copro.refine",
        )

    async def _score(self, program: Any, trainset: list[Example]) -> float:
        result = await evaluate(program, trainset, self.metric, concurrency=self.concurrency)
        if result.stopped:
            raise BudgetExceeded(result.stopped)
        if result.errors:
            raise EvaluationErrors(result)
        return result.score or 0.0

    async def compile(self, program: Any, trainset: list[Example], progress: Progress | None = None):
        student = program.deepcopy()
        before = snapshot(student)
        report = OptimizeReport("copro")
        predictors = student.named_predictors()
        total = len(predictors) * (self.breadth + self.depth * (self.breadth - 1))
        done = 0
        rollout = 0
        best_overall: float | None = None  # stays None when even the first scoring stopped

        def tick(message: str) -> None:
            nonlocal done
            done += 1
            if progress:
                progress(done, total, message)

        try:
            report.score_before = best_overall = await self._score(student, trainset)
            for name, predictor in predictors:
                original = predictor.signature.instructions
                tried: dict[str, float] = {original: best_overall}
                report.candidates.append({"predictor": name, "instruction": original, "score": best_overall})
                tick(f"{name}: current {best_overall:.3f}")
                for round_index in range(self.depth + 1):
                    proposals = []
                    for _ in range(self.breadth - 1):
                        rollout += 1
                        with context(rollout=rollout):
                            if round_index == 0:
                                out = await self.propose.acall(
                                    signature=str(predictor.signature), current_instruction=original
                                )
                            else:
                                attempts = "\n".join(
                                    f"[score {s:.3f}] {text}" for text, s in sorted(tried.items(), key=lambda kv: kv[1])
                                )
                                out = await self.refine.acall(signature=str(predictor.signature), attempts=attempts)
                        proposals.append(" ".join(out.proposed_instruction.split()))
                    for text in proposals:
                        if text and text not in tried:
                            predictor.instructions = text
                            tried[text] = await self._score(student, trainset)
                            report.candidates.append({"predictor": name, "instruction": text, "score": tried[text]})
                        tick(f"{name}: best {max(tried.values()):.3f}")
                best_text = max(tried, key=lambda t: (tried[t], t == original))
                predictor.instructions = best_text
                best_overall = tried[best_text]
        except (BudgetExceeded, EvaluationErrors) as exc:
            report.stopped = str(exc)
            if isinstance(exc, EvaluationErrors):
                report.errors, report.first_error = len(exc.result.errors), one_line(exc.result.errors[0]["error"])
            for name, predictor in predictors:  # keep the best instruction found for each so far
                scored = [c for c in report.candidates if c["predictor"] == name]
                if scored:
                    predictor.instructions = max(scored, key=lambda c: c["score"])["instruction"]
        report.score_after = best_overall
        report.changes = describe_changes(before, snapshot(student))
        return student, report
