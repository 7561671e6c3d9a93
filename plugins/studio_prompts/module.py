"""Modules: programs made of predictors, run sync or async, traced.

A user's module is a plain class with ``forward(**inputs)`` (and optionally an async
``aforward``) that calls predictors and other modules::

    class RAG(Module):
        def __init__(self):
            self.answer = ChainOfThought("context: list[str], question -> answer")
        def forward(self, question):
            return self.answer(context=search(question), question=question)

Built-in predictors are written once, as generators of *operations* (a model call, a call
of a sub-module, a tool call); ``run_sync`` and ``run_async`` drive such a generator, so
the same algorithm runs in a thread or in an event loop with no copy of its logic.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
from collections.abc import Callable, Generator
from typing import Any

from .settings import settings
from .trace import start_span

Steps = Generator[Any, Any, Any]


class Module:
    span_kind = "module"

    def __call__(self, **inputs: Any) -> Any:
        span = start_span(
            settings().tracer, self.span_kind, self.span_name(), inputs, announce=self.span_kind == "workflow"
        )
        try:
            result = self.forward(**inputs)
        except BaseException as exc:
            span.end(error=exc)
            raise
        span.end(result)
        return result

    async def acall(self, **inputs: Any) -> Any:
        span = start_span(
            settings().tracer, self.span_kind, self.span_name(), inputs, announce=self.span_kind == "workflow"
        )
        try:
            if type(self).aforward is not Module.aforward:
                result = await self.aforward(**inputs)
            else:  # a sync-only module: run it in a thread (contextvars follow it there)
                result = await asyncio.to_thread(self.forward, **inputs)
        except BaseException as exc:
            span.end(error=exc)
            raise
        span.end(result)
        return result

    def forward(self, **inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward(**inputs)")

    async def aforward(self, **inputs: Any) -> Any:  # optional: define to run natively in the event loop
        raise NotImplementedError

    def span_name(self) -> str:
        return type(self).__name__

    # ---- structure, for optimizers

    def named_predictors(self) -> list[tuple[str, Any]]:
        """Every Predict inside this module, with its attribute path (``answer``, ``steps.0``)."""
        from .predict import Predict

        found: list[tuple[str, Any]] = []
        seen: set[int] = set()

        def walk(obj: Any, path: str) -> None:
            if id(obj) in seen:
                return
            seen.add(id(obj))
            if isinstance(obj, Predict):
                found.append((path or "self", obj))
            if isinstance(obj, Module):
                for name, value in vars(obj).items():
                    if not name.startswith("_"):
                        walk(value, f"{path}.{name}" if path else name)
            elif isinstance(obj, (list, tuple)):
                for i, value in enumerate(obj):
                    walk(value, f"{path}.{i}")
            elif isinstance(obj, dict):
                for key, value in obj.items():
                    walk(value, f"{path}.{key}")

        walk(self, "")
        return found

    def deepcopy(self) -> Module:
        return copy.deepcopy(self)


# --------------------------------------------------------------------------- operations


class SubCall:
    """Call another module (or predictor) with keyword inputs."""

    __slots__ = ("module", "inputs")

    def __init__(self, module: Module, inputs: dict[str, Any]):
        self.module, self.inputs = module, inputs

    def run_sync(self) -> Any:
        return self.module(**self.inputs)

    async def run_async(self) -> Any:
        return await self.module.acall(**self.inputs)


class ToolCall:
    """Call a plain Python function (sync or async) as a traced ``tool`` span."""

    __slots__ = ("fn", "args", "name")

    def __init__(self, fn: Callable[..., Any], args: dict[str, Any], name: str):
        self.fn, self.args, self.name = fn, args, name

    def run_sync(self) -> Any:
        span = start_span(settings().tracer, "tool", self.name, self.args)
        try:
            result = asyncio.run(self.fn(**self.args)) if inspect.iscoroutinefunction(self.fn) else self.fn(**self.args)
        except BaseException as exc:
            span.end(error=exc)
            raise
        span.end(result)
        return result

    async def run_async(self) -> Any:
        span = start_span(settings().tracer, "tool", self.name, self.args)
        try:
            if inspect.iscoroutinefunction(self.fn):
                result = await self.fn(**self.args)
            else:
                result = await asyncio.to_thread(self.fn, **self.args)
        except BaseException as exc:
            span.end(error=exc)
            raise
        span.end(result)
        return result


def run_sync(steps: Steps) -> Any:
    """Drive a generator of operations in this thread."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = steps.throw(error) if error is not None else steps.send(value)
        except StopIteration as stop:
            return stop.value
        value = error = None
        try:
            value = op.run_sync()
        except Exception as exc:
            error = exc


async def run_async(steps: Steps) -> Any:
    """Drive a generator of operations in the running event loop."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = steps.throw(error) if error is not None else steps.send(value)
        except StopIteration as stop:
            return stop.value
        value = error = None
        try:
            value = await op.run_async()
        except Exception as exc:
            error = exc


class StepModule(Module):
    """A module whose algorithm is the generator ``steps(**inputs)`` (the built-in predictors)."""

    def steps(self, **inputs: Any) -> Steps:
        raise NotImplementedError

    def forward(self, **inputs: Any) -> Any:
        return run_sync(self.steps(**inputs))

    async def aforward(self, **inputs: Any) -> Any:
        return await run_async(self.steps(**inputs))
