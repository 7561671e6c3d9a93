"""Evaluate a program on a dataset with a metric: concurrent, resumable, every result kept.

A metric is ``metric(example, prediction) -> float | bool``: built in are
``exact_match``, ``f1``, ``contains`` and ``llm_judge``; any ``"module:function"`` works
too. Each finished example is appended as one JSON line to ``results.jsonl`` (index,
inputs, labels, outputs, score, error, seconds), so an interrupted evaluation resumes by
skipping the examples already there (matched by index and inputs). A failing example —
a parse error, a model error — is kept with its error and scores 0; it does not stop the
others.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import string
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from studio.api import read_events, resolve

from .data import Example, Prediction
from .lm import BudgetExceeded
from .predict import Predict
from .settings import context, settings
from .trace import jsonable

Metric = Callable[[Example, Prediction], Any]


def normalize(text: Any) -> str:
    """SQuAD-style: lower case, no punctuation, no articles, single spaces."""
    text = str(text).lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _pairs(example: Example, prediction: Prediction) -> list[tuple[Any, Any]]:
    labels = example.labels()
    keys = [k for k in labels if k in prediction] or list(labels)[:1]
    return [(labels[k], prediction.get(k)) for k in keys]


def exact_match(example: Example, prediction: Prediction) -> float:
    """Every label field the prediction has equals it, after normalizing text."""
    pairs = _pairs(example, prediction)
    return float(bool(pairs) and all(normalize(gold) == normalize(pred) for gold, pred in pairs))


def contains(example: Example, prediction: Prediction) -> float:
    pairs = _pairs(example, prediction)
    return float(bool(pairs) and all(normalize(gold) in normalize(pred) for gold, pred in pairs))


def f1(example: Example, prediction: Prediction) -> float:
    """Token-overlap F1 of the first label field, averaged over fields when several."""
    scores = []
    for gold, pred in _pairs(example, prediction):
        g, p = normalize(gold).split(), normalize(pred).split()
        common = sum((Counter(g) & Counter(p)).values())
        if not g or not p:
            scores.append(float(g == p))
        elif common == 0:
            scores.append(0.0)
        else:
            precision, recall = common / len(p), common / len(g)
            scores.append(2 * precision * recall / (precision + recall))
    return sum(scores) / len(scores) if scores else 0.0


class LLMJudge:
    """A model grades the prediction against the labels; its reasoning is in the trace."""

    def __init__(self, lm: Any = None):
        self.judge = Predict("question: str, reference: str, prediction: str -> correct: bool",
                             instructions="Judge whether the prediction answers the question as the reference "
                                          "does. Minor wording differences are fine.", lm=lm, name="llm_judge")

    def _inputs(self, example: Example, prediction: Prediction) -> dict[str, str]:
        return {"question": json.dumps(example.inputs(), ensure_ascii=False),
                "reference": json.dumps(jsonable(example.labels()), ensure_ascii=False),
                "prediction": json.dumps(jsonable(dict(prediction)), ensure_ascii=False)}

    def __call__(self, example: Example, prediction: Prediction) -> float:
        return float(self.judge(**self._inputs(example, prediction)).correct)

    async def acall(self, example: Example, prediction: Prediction) -> float:
        return float((await self.judge.acall(**self._inputs(example, prediction))).correct)


METRICS: dict[str, Callable[[], Metric]] = {
    "exact_match": lambda: exact_match, "contains": lambda: contains, "f1": lambda: f1, "llm_judge": LLMJudge,
}


def get_metric(name: str | Metric) -> Metric:
    if callable(name):
        return name
    if name in METRICS:
        return METRICS[name]()
    if ":" in name:
        return resolve(name)
    raise ValueError(f"unknown metric {name!r}: use {', '.join(METRICS)} or 'module:function'")


def example_key(index: int, example: Example) -> str:
    blob = json.dumps(jsonable(example.inputs()), sort_keys=True, ensure_ascii=False)
    return f"{index}:{hashlib.sha1(blob.encode()).hexdigest()[:12]}"


@dataclass
class EvalResult:
    score: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    resumed: int = 0
    stopped: str = ""  # why it stopped early (budget), or ""

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("error")]

    def summary(self) -> dict[str, Any]:
        return {"score": self.score, "examples": len(self.rows), "failures": len(self.failures),
                "resumed": self.resumed, **({"stopped": self.stopped} if self.stopped else {})}


async def evaluate(program: Any, dataset: list[Example], metric: str | Metric = "exact_match", *,
                   concurrency: int = 8, results_path: Path | None = None,
                   progress: Callable[[int, int, str], None] | None = None) -> EvalResult:
    metric_fn = get_metric(metric)
    done: dict[str, dict[str, Any]] = {}
    if results_path is not None and Path(results_path).exists():
        done = {row["key"]: row for row in read_events(Path(results_path)) if "key" in row}
    keys = [example_key(i, ex) for i, ex in enumerate(dataset)]
    rows: list[dict[str, Any] | None] = [done.get(k) for k in keys]
    resumed = sum(r is not None for r in rows)
    todo = [i for i, r in enumerate(rows) if r is None]
    out = open(results_path, "a", encoding="utf-8") if results_path is not None else None
    finished = resumed
    slots = asyncio.Semaphore(max(1, concurrency))
    stopped = ""
    if progress:
        progress(finished, len(dataset), f"{resumed} resumed" if resumed else "")

    async def one(i: int) -> None:
        nonlocal finished, stopped
        example = dataset[i]
        async with slots:
            if stopped:
                return
            t0 = time.perf_counter()
            row: dict[str, Any] = {"key": keys[i], "index": i, "inputs": jsonable(example.inputs()),
                                   "labels": jsonable(example.labels())}
            try:
                prediction = await program.acall(**example.inputs())
                row["outputs"] = jsonable(dict(prediction))
                score = await metric_fn.acall(example, prediction) if hasattr(metric_fn, "acall") \
                    else metric_fn(example, prediction)
                row["score"] = float(score)
            except BudgetExceeded as exc:
                stopped = str(exc)
                return
            except Exception as exc:
                row["score"], row["error"] = 0.0, f"{type(exc).__name__}: {exc}"
            row["seconds"] = round(time.perf_counter() - t0, 4)
        rows[i] = row
        if out is not None:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
        finished += 1
        if progress:
            progress(finished, len(dataset), "")

    try:
        limiter = settings().limiter or asyncio.Semaphore(max(1, concurrency))
        with context(limiter=limiter):
            await asyncio.gather(*(one(i) for i in todo))
    finally:
        if out is not None:
            out.close()
    kept = [r for r in rows if r is not None]
    score = sum(r["score"] for r in kept) / len(kept) if kept else 0.0
    return EvalResult(score, kept, resumed, stopped)
