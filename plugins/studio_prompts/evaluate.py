"""Evaluate a program on a dataset with a metric: concurrent, resumable, every result kept.

A metric is ``metric(example, prediction) -> float | bool``: built in are
``exact_match``, ``f1``, ``contains`` and ``llm_judge``; any ``"module:function"`` works
too. Each finished example is appended as one JSON line to ``results.jsonl`` (index,
inputs, labels, outputs, status, score, error, seconds), so an interrupted evaluation
resumes by skipping the examples already there (matched by index and inputs).

An example ends in one of three ways (its ``status``): ``ok`` (scored by the metric),
``unparsed`` (the model answered but its reply could not be read: the program got it
wrong, it scores 0) or ``error`` (it could not be judged at all: a model call failed for
good, a node crashed, the metric failed). Errors are not wrong answers: they are left out
of the score, counted apart, and retried on resume. A failing example does not stop the
others; a budget or a cancel does (the examples not yet run are simply not recorded).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import string
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from studio.api import JobCancelled, atomic_write_text, resolve

from .data import Example, Prediction
from .input_files import too_deep
from .lm import BudgetExceeded
from .predict import ParseError, Predict
from .settings import context, settings
from .trace import error_text, jsonable

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
        self.judge = Predict(
            "question: str, reference: str, prediction: str -> correct: bool",
            instructions="Judge whether the prediction answers the question as the reference "
            "does. Minor wording differences are fine.",
            lm=lm,
            name="llm_judge",
        )

    def _inputs(self, example: Example, prediction: Prediction) -> dict[str, str]:
        return {
            "question": json.dumps(example.inputs(), ensure_ascii=False),
            "reference": json.dumps(jsonable(example.labels()), ensure_ascii=False),
            "prediction": json.dumps(jsonable(dict(prediction)), ensure_ascii=False),
        }

    def __call__(self, example: Example, prediction: Prediction) -> float:
        return float(self.judge(**self._inputs(example, prediction)).correct)

    async def acall(self, example: Example, prediction: Prediction) -> float:
        return float((await self.judge.acall(**self._inputs(example, prediction))).correct)


METRICS: dict[str, Callable[[], Metric]] = {
    "exact_match": lambda: exact_match,
    "contains": lambda: contains,
    "f1": lambda: f1,
    "llm_judge": LLMJudge,
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


OK, UNPARSED, ERROR = "ok", "unparsed", "error"


def find_cause(exc: BaseException | None, kind: type | tuple[type, ...]) -> BaseException | None:
    """``exc`` or the exception it wraps (a workflow's ``NodeError``, ``raise … from``) of
    ``kind``: a budget, a cancel or a parse failure deep in a workflow is still that."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return exc
        seen.add(id(exc))
        exc = getattr(exc, "cause", None) or exc.__cause__
    return None


def one_line(text: str, limit: int = 300) -> str:
    """Whitespace folded; a long text keeps its start and its end (where hints are)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    head = limit * 2 // 5
    return text[:head] + " … " + text[len(text) - (limit - head - 3) :]


def is_finished(row: dict[str, Any]) -> bool:
    """Scored (``ok`` or ``unparsed``); rows written before statuses existed count when error-free."""
    status = row.get("status")
    return status in (OK, UNPARSED) if status else not row.get("error")


def _shown(value: Any) -> str:
    big = type(value) is int  # json.dumps would do too, but str says so plainly for any size
    text = str(value) if big else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else f"{text[:37]}…"


def row_problem(row: dict[str, Any], metric: Any = None) -> str | None:
    """Why a row of a results file cannot be resumed from (None when it can): its key is
    not text, its index not a whole number ≥ 0, or it is finished and its score is not a
    finite number — within 0..1 for the built-in metrics (what ``metric`` names), which
    score nothing else. An errored row's score is not read: the example runs again."""
    if not isinstance(row.get("key", ""), str):
        return f"key {_shown(row['key'])} is not text"
    index = row.get("index", 0)
    if type(index) is not int or index < 0:
        return f"index {_shown(index)} is not a whole number ≥ 0"
    if not is_finished(row):
        return None
    score = row.get("score")
    if score is None:
        return "a finished example (status ok or unparsed) has no score"
    if type(score) not in (int, float):
        return f"score {_shown(score)} is not a number"
    try:
        value = float(score)
    except OverflowError:
        return f"score {_shown(score)} is too large to be a score"
    if not math.isfinite(value):
        return f"score {_shown(score)} is not a finite number"
    if isinstance(metric, str) and metric in METRICS and not 0 <= value <= 1:
        return f"score {_shown(score)} is outside 0..1, the range of {metric}"
    return None


class ResultsFileError(ValueError):
    """A results file with a row no evaluation writes (hand-edited): the message names
    the file, the line and what is wrong with it."""


def read_results(path: Path, metric: Any = None) -> list[dict[str, Any]]:
    """The rows of a results file, each checked with ``row_problem``. Lines that are not a
    JSON object are skipped, as ``read_records`` does (a crash can cut the last one)."""
    rows = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                continue
            except ValueError as exc:  # an integer of more than 4300 digits (the hint after ";" is Python's)
                raise ResultsFileError(f"{path}: line {number}: {one_line(str(exc).split(';')[0], 200)}") from None
            if not isinstance(row, dict):
                continue
            problem = "nested too deeply to be an evaluation's results" if too_deep(row) else row_problem(row, metric)
            if problem:
                raise ResultsFileError(f"{path}: line {number}: {problem}")
            rows.append(row)
    return rows


@dataclass
class EvalResult:
    score: float | None  # the mean over the scored examples; None when none was scored
    rows: list[dict[str, Any]] = field(default_factory=list)
    resumed: int = 0  # finished examples taken from an earlier results file
    stopped: str = ""  # why it stopped early (budget), or ""
    total: int = 0  # examples in the dataset
    retried: int = 0  # examples that had errored in the earlier results file, run again

    @property
    def scored(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("status") != ERROR]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("status") == ERROR]

    @property
    def unparsed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("status") == UNPARSED]

    def summary(self) -> dict[str, Any]:
        errors = self.errors
        out: dict[str, Any] = {
            "score": self.score,
            "examples": self.total,
            "scored": len(self.scored),
            "errors": len(errors),
            "unparsed": len(self.unparsed),
            "resumed": self.resumed,
            "retried": self.retried,
        }
        if len(self.rows) < self.total:
            out["not_run"] = self.total - len(self.rows)
        if errors:
            out["first_error"] = one_line(errors[0]["error"])
        if self.stopped:
            out["stopped"] = self.stopped
        return out

    def describe(self) -> str:
        """One line: the score over what was scored, with the errors beside it."""
        score = f"score {self.score:.4f}" if self.score is not None else "no score"
        text = f"{score} over {len(self.scored)} scored of {self.total} examples"
        if self.unparsed:
            text += f" ({len(self.unparsed)} unreadable replies scored 0)"
        if self.errors:
            text += f"; {len(self.errors)} errored, not scored (first: {one_line(self.errors[0]['error'], 200)})"
        if self.resumed:
            text += f"; {self.resumed} resumed"
        if len(self.rows) < self.total:
            text += f"; {self.total - len(self.rows)} not run" + (f" ({self.stopped})" if self.stopped else "")
        return text


class EvaluationErrors(RuntimeError):
    """Some examples could not be judged: the score is over the others only."""

    def __init__(self, result: EvalResult, hint: str = ""):
        errors = result.errors
        score = f"score {result.score:.4f}" if result.score is not None else "no score"
        super().__init__(
            f"{len(errors)} of {result.total} examples errored and are not scored (first: "
            f"{one_line(errors[0]['error'], 200) if errors else '-'}); {score} over the "
            f"{len(result.scored)} scored" + (f" — {hint}" if hint else "")
        )
        self.result = result


def _earlier(path: Path, keys: list[str], metric: Any) -> tuple[dict[str, dict[str, Any]], int]:
    """The finished rows of an earlier results file for this dataset, and how many of its
    examples errored (to retry). The file is rewritten with those rows only, one per
    example, so the rows appended next are never glued to a line cut by a crash. A row
    no evaluation writes is a ``ResultsFileError`` naming its line."""
    wanted = set(keys)
    latest = {row["key"]: row for row in read_results(path, metric) if row.get("key") in wanted}
    done = {k: r for k, r in latest.items() if is_finished(r)}
    ordered = sorted(done.values(), key=lambda r: r.get("index", 0))
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered))
    return done, len(latest) - len(done)


def _open_results(path: Path, keys: list[str], metric: Any) -> tuple[dict[str, dict[str, Any]], int, TextIO]:
    """What an earlier run of this file finished (see ``_earlier``), how many it must
    retry, and the file opened for the rows to come (appended one by one, flushed)."""
    done, retried = _earlier(path, keys, metric) if path.exists() else ({}, 0)
    return done, retried, path.open("a", encoding="utf-8")


async def evaluate(
    program: Any,
    dataset: list[Example],
    metric: str | Metric = "exact_match",
    *,
    concurrency: int = 8,
    results_path: Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> EvalResult:
    metric_fn = get_metric(metric)
    keys = [example_key(i, ex) for i, ex in enumerate(dataset)]
    done: dict[str, dict[str, Any]] = {}
    retried, out = 0, None
    if results_path is not None:  # off the event loop: an earlier results file may be long
        done, retried, out = await asyncio.to_thread(_open_results, Path(results_path), keys, metric)
    rows: list[dict[str, Any] | None] = [done.get(k) for k in keys]
    resumed = sum(r is not None for r in rows)
    todo = [i for i, r in enumerate(rows) if r is None]
    finished = resumed
    slots = asyncio.Semaphore(max(1, concurrency))
    stopped = ""
    cancelled: BaseException | None = None

    async def one(i: int) -> None:
        nonlocal finished, stopped, cancelled
        example = dataset[i]
        async with slots:
            if stopped or cancelled:
                return
            t0 = time.perf_counter()
            row: dict[str, Any] = {
                "key": keys[i],
                "index": i,
                "inputs": jsonable(example.inputs()),
                "labels": jsonable(example.labels()),
            }
            try:
                try:
                    prediction = await program.acall(**example.inputs())
                except Exception as exc:
                    if find_cause(exc, (BudgetExceeded, JobCancelled)) or not find_cause(exc, ParseError):
                        raise
                    row.update(status=UNPARSED, score=0.0, error=error_text(exc))
                else:
                    row["outputs"] = jsonable(dict(prediction))
                    score = (
                        await metric_fn.acall(example, prediction)
                        if hasattr(metric_fn, "acall")
                        else metric_fn(example, prediction)
                    )
                    value = float(score)
                    if not math.isfinite(value):  # NaN would spoil the mean and is no JSON
                        raise ValueError(f"the metric returned {value}, not a finite number")
                    row.update(status=OK, score=value)
            except Exception as exc:
                if budget := find_cause(exc, BudgetExceeded):
                    stopped = str(budget)
                    return
                if find_cause(exc, JobCancelled):
                    cancelled = exc
                    return
                row.update(status=ERROR, score=None, error=error_text(exc))
            row["seconds"] = round(time.perf_counter() - t0, 4)
        rows[i] = row
        if out is not None:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
        finished += 1
        if progress:
            progress(finished, len(dataset), "")

    try:
        if progress:
            progress(finished, len(dataset), f"{resumed} resumed" if resumed else "")
        limiter = settings().limiter or asyncio.Semaphore(max(1, concurrency))
        with context(limiter=limiter):
            await asyncio.gather(*(one(i) for i in todo))
    finally:
        if out is not None:
            out.close()
    if cancelled is not None:
        raise JobCancelled(f"cancelled after {finished} of {len(dataset)} examples") from cancelled
    kept = [r for r in rows if r is not None]
    scored = [r for r in kept if r.get("status") != ERROR]
    score = _mean([r["score"] for r in scored]) if scored else None
    return EvalResult(score, kept, resumed, stopped, total=len(dataset), retried=retried)


def _mean(scores: list[float]) -> float:
    """Their mean; finite when they are, even where their sum is not (a metric's 1e308s)."""
    total = sum(scores)
    return total / len(scores) if math.isfinite(total) else sum(s / len(scores) for s in scores)
