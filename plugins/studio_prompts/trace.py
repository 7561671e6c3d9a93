"""Spans: one per workflow, node, module, predictor, model call, tool call and parse (and
a model load, when a local model's first call loads it: ``record_child``).

A span is written once, when it ends, as a flat dict (the JSONL line in the run's
``events.jsonl``; see ``docs/DESIGN-NOTES.md``): ``id``, ``parent``, ``kind``, ``name``,
``start`` (Unix time), ``duration`` (s), ``status`` (ok / error / cancelled), ``inputs``,
``outputs``, ``error``, and per kind: ``messages``, ``reply``, ``model``, ``params``,
``tokens`` {prompt, completion}, ``cost``, ``latency``, ``cache_hit``, ``attempts`` for model
calls. Every span also carries the totals of its subtree — ``total_tokens``,
``total_cost``, ``total_calls`` — so a workflow's cost is on its own line.

The open span is kept in a context variable, so spans opened by concurrent asyncio tasks
get the right parent without any bookkeeping by the caller.
"""

from __future__ import annotations

import contextvars
import enum
import itertools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pydantic

from studio.api import RunStatus

_current: contextvars.ContextVar[Span | None] = contextvars.ContextVar("studio_prompts_span", default=None)
_ids = itertools.count(1)
_prefix = f"{os.getpid():x}-"
_rollup_lock = threading.Lock()

PLAIN = (str, int, float, bool, type(None))


def current_span() -> Span | None:
    return _current.get()


class Span:
    __slots__ = (
        "tracer",
        "id",
        "parent",
        "kind",
        "name",
        "start",
        "fields",
        "tokens",
        "cost",
        "calls",
        "_t0",
        "_token",
    )

    def __init__(self, tracer: Tracer, kind: str, name: str, fields: dict[str, Any], leaf: bool = False):
        parent = _current.get()
        self.tracer = tracer
        self.id = f"{_prefix}{next(_ids):x}"
        self.parent = parent
        self.kind, self.name, self.fields = kind, name, fields
        self.tokens = self.calls = 0
        self.cost = 0.0
        self.start = time.time()
        self._t0 = time.perf_counter()
        self._token = None if leaf else _current.set(self)  # a leaf (model call, parse) opens no scope

    def add_usage(self, tokens: int, cost: float, calls: int = 1) -> None:
        self.tokens += tokens
        self.cost += cost
        self.calls += calls

    def end(
        self, outputs: Any = None, error: BaseException | str | None = None, status: str | None = None, **fields: Any
    ) -> None:
        if self._token is not None:
            try:
                _current.reset(self._token)
            except ValueError:  # ended in another context (a generator moved across tasks): restore the parent
                _current.set(self.parent)
        duration = time.perf_counter() - self._t0
        parent = self.parent
        if parent is not None and (self.tokens or self.calls or self.cost):
            with _rollup_lock:
                parent.add_usage(self.tokens, self.cost, self.calls)
        if error is not None and status is None:
            cancelled = type(error).__name__ in ("CancelledError", "JobCancelled")
            status = RunStatus.CANCELLED.value if cancelled else "error"  # named as a cancelled run is
        record = {
            "id": self.id,
            "parent": parent.id if parent is not None else self.tracer.root_parent,
            "kind": self.kind,
            "name": self.name,
            "start": self.start,
            "duration": duration,
            "status": status or "ok",
            **self.fields,
            **fields,
            "total_tokens": self.tokens,
            "total_cost": self.cost,
            "total_calls": self.calls,
        }
        if outputs is not None:
            record["outputs"] = jsonable(outputs)
        if error is not None:
            record["error"] = error if isinstance(error, str) else error_text(error)
        self.tracer.sink(record)


def error_text(exc: BaseException) -> str:
    """An error as the user reads it: errors whose message already names what failed
    (``plain_message = True``: a model call, a workflow node) without their class name;
    others as ``Type: message``."""
    if getattr(exc, "plain_message", False):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class Tracer:
    """Hands finished spans to ``sink`` (a job's ``ctx.span``, a list's ``append``, a file)."""

    def __init__(self, sink: Callable[[dict[str, Any]], None], root_parent: str | None = None):
        self.sink = sink
        self.root_parent = root_parent

    def start(
        self, kind: str, name: str, inputs: Any = None, leaf: bool = False, announce: bool = False, **fields: Any
    ) -> Span:
        """``announce``: also write a "running" record now (workflow nodes: the editor shows
        which are running); the finished record with the same id follows."""
        if inputs is not None:
            fields["inputs"] = jsonable(inputs)
        span = Span(self, kind, name, fields, leaf)
        if announce:
            parent = span.parent
            self.sink(
                {
                    "id": span.id,
                    "parent": parent.id if parent is not None else self.root_parent,
                    "kind": kind,
                    "name": name,
                    "start": span.start,
                    "status": "running",
                    **fields,
                }
            )
        return span


def record_child(parent: Span | _NullSpan, kind: str, name: str, start: float, duration: float, **fields: Any) -> None:
    """A finished span under ``parent`` that something else timed (a provider's model load,
    reported in its reply): written now, with the times it reported. Nothing without a tracer."""
    if not isinstance(parent, Span):
        return
    parent.tracer.sink(
        {
            "id": f"{_prefix}{next(_ids):x}",
            "parent": parent.id,
            "kind": kind,
            "name": name,
            "start": start,
            "duration": duration,
            "status": "ok",
            **fields,
            "total_tokens": 0,
            "total_cost": 0.0,
            "total_calls": 0,
        }
    )


class Collector(Tracer):
    """A tracer that keeps spans in a list, for scripts and tests: ``Collector().spans``."""

    def __init__(self):
        self.spans: list[dict[str, Any]] = []
        super().__init__(self.spans.append)


class _NullSpan:
    """What ``start_span`` returns with no tracer: accepts the calls, records nothing."""

    id = None
    parent = None

    def add_usage(self, *args: Any) -> None:
        pass

    def end(self, *args: Any, **kwargs: Any) -> None:
        pass


NULL_SPAN = _NullSpan()


def start_span(
    tracer: Tracer | None,
    kind: str,
    name: str,
    inputs: Any = None,
    leaf: bool = False,
    announce: bool = False,
    **fields: Any,
):
    return NULL_SPAN if tracer is None else tracer.start(kind, name, inputs, leaf, announce, **fields)


def jsonable(value: Any) -> Any:
    """Values as they can be written to JSON: models and enums to plain data."""
    if isinstance(value, PLAIN):
        return value
    if isinstance(value, dict):
        return {k if type(k) is str else str(k): v if type(v) in PLAIN else jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return value.value
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    return repr(value)
