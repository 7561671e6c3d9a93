"""What a call runs with — model, format, tracer, cache, limits — held in a context variable.

``configure(lm=...)`` sets the defaults for this process; ``with context(lm=...)`` overrides
them for a block, a thread or an asyncio task (contextvars follow tasks and
``asyncio.to_thread``), so concurrent runs never see each other's settings.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Settings:
    lm: Any = None  # an LM; predictors without their own use this one
    format: str = "chat"  # "chat" (field markers) or "json"
    tracer: Any = None  # a Tracer; None records nothing
    cache: Any = None  # a CallCache; None: no caching
    limiter: Any = None  # an asyncio.Semaphore bounding concurrent model calls
    budget: Any = None  # a Budget (max calls / cost) checked before every model call
    recorder: list | None = None  # (predictor, inputs, outputs) of each call, for optimizers
    cancelled: Callable[[], bool] | None = None  # polled before each model call
    max_repairs: int = 1  # extra calls allowed to get missing fields
    rollout: int | None = None  # BestOfN's attempt number: part of the cache key, so attempts differ
    feedback: str | None = None  # Refine's note on the previous attempt, put before the inputs
    tokens_dir: Any = None  # a Path: where model calls' token records go (a job's run_dir/tensors); None: nowhere


_defaults = Settings()
_current: contextvars.ContextVar[Settings | None] = contextvars.ContextVar("studio_prompts_settings", default=None)


def settings() -> Settings:
    return _current.get() or _defaults


def configure(**changes: Any) -> None:
    """Change the process-wide defaults."""
    global _defaults
    _defaults = replace(_defaults, **changes)


@contextlib.contextmanager
def context(**changes: Any) -> Iterator[Settings]:
    changed = replace(settings(), **changes)
    token = _current.set(changed)
    try:
        yield changed
    finally:
        _current.reset(token)
