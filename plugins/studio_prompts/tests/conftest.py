"""Shared helpers: scripted replies for the fake OpenAI-compatible server, an LM pointed at it."""

from __future__ import annotations

import pytest

import studio_prompts.hooks as prompts_hooks
from studio_prompts import LM
from studio_prompts.portable.formats import COMPLETED, marker


def fields(**values) -> str:
    """A well-formed field-marker reply."""
    return "\n\n".join(f"{marker(k)}\n{v}" for k, v in values.items()) + f"\n\n{COMPLETED}"


def last_user(request: dict) -> str:
    return request["messages"][-1]["content"]


def input_value(request: dict, name: str) -> str:
    """The value of input field ``name`` in the latest user message that has it."""
    text = next(
        m["content"] for m in reversed(request["messages"]) if m["role"] == "user" and marker(name) in m["content"]
    )
    start = text.index(marker(name)) + len(marker(name))
    rest = text[start:]
    end = rest.find("[[ ##")
    cut = rest[:end] if end >= 0 else rest
    return cut.split("\n\nRespond with")[0].strip()


def cancel_soon(start_call, after: float = 0.3, **settings) -> float:
    """Start ``start_call()`` (a coroutine) under ``context(**settings)``, cancel it after
    ``after`` seconds, check that it ends cancelled, and return the seconds it all took."""
    import asyncio
    import time

    from studio_prompts import context

    async def go():
        with context(**settings):
            task = asyncio.ensure_future(start_call())
            await asyncio.sleep(after)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    t0 = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - t0


@pytest.fixture
def lm(llm_server, monkeypatch):
    """An LM that talks to the fake server through litellm (real HTTP). No key is set: a
    server given by api_base gets a placeholder, and one a workflow file names would need
    consent to get a real key (workflow/trust.py)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return LM("openai/fake-model", api_base=llm_server.url, retries=2, backoff=0.01, timeout=5)


@pytest.fixture(autouse=True)
def clean_settings():
    """Each test starts from default settings (no LM, no tracer, no cache)."""
    from dataclasses import fields

    from studio_prompts import configure, settings

    saved = settings()  # the defaults: no context is open here
    yield
    configure(**{f.name: getattr(saved, f.name) for f in fields(saved)})


@pytest.fixture
def window(make_window):
    """A studio window with the prompts plugin (its editor and Traces panels)."""
    return make_window(("prompts", prompts_hooks))


@pytest.fixture
def editor(window):
    return window.show_panel("prompts:editor")
