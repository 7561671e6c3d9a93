"""Plugins and job runners used by the tests. Module-level, so spawned workers import them."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from types import SimpleNamespace

from pydantic import BaseModel, Field

from studio.api import JobKind, MenuAction, OpenAction, PanelSpec, PluginInfo, hookimpl


class CountParams(BaseModel):
    n: int = Field(10, ge=0)
    delay: float = 0.0
    fail: bool = False


class SleepParams(BaseModel):
    seconds: float = 30.0
    cooperative: bool = True


def count(params: CountParams, ctx) -> dict:
    for i in range(params.n):
        ctx.metric("loss", i, 1.0 / (i + 1))
        ctx.progress(i + 1, params.n)
        if params.delay:
            time.sleep(params.delay)
        ctx.check_cancelled()
    if params.fail:
        ctx.log("about to fail")
        raise ValueError("the job failed on purpose")
    ctx.log(f"counted to {params.n}")
    return {"n": params.n}


async def count_async(params: CountParams, ctx) -> dict:
    for i in range(params.n):
        ctx.metric("loss", i, float(i))
        await asyncio.sleep(params.delay)
        ctx.check_cancelled()
    if params.fail:
        raise ValueError("async job failed on purpose")
    return {"n": params.n}


async def interleaved(params: CountParams, ctx) -> dict:
    """Batches flushed alternately by the flusher thread (the loop is blocked) and by the
    loop itself (a full batch): subscribers must still see them in order."""
    step = 0
    for _ in range(params.n):
        ctx.metric("x", step, step)
        step += 1
        time.sleep(0.05)  # the flusher thread sends that one event
        for _ in range(4096):  # a full batch, flushed from the loop's thread
            ctx.metric("x", step, step)
            step += 1
        await asyncio.sleep(0)
    return {"steps": step}


def sleep(params: SleepParams, ctx) -> None:
    ctx.log("sleeping")
    end = time.time() + params.seconds
    while time.time() < end:
        if params.cooperative:
            ctx.check_cancelled()
        time.sleep(0.02)


def kill_self(params: CountParams, ctx) -> None:
    ctx.log("last words before SIGKILL")
    ctx.metric("loss", 0, 1.0)
    time.sleep(0.2)  # let the flusher send them
    os.kill(os.getpid(), signal.SIGKILL)


def hard_exit(params: CountParams, ctx) -> None:
    os._exit(7)


def flood(params: CountParams, ctx) -> dict:
    for i in range(params.n):
        ctx.metric("x", i, i)
    return {"n": params.n}


KINDS = [
    JobKind("t.count", "Count", CountParams, "sample_plugins:count", executor="process"),
    JobKind("t.count_thread", "Count (thread)", CountParams, "sample_plugins:count", executor="async"),
    JobKind("t.count_async", "Count (async)", CountParams, "sample_plugins:count_async", executor="async"),
    JobKind("t.interleaved", "Interleaved", CountParams, "sample_plugins:interleaved", executor="async"),
    JobKind("t.sleep", "Sleep", SleepParams, "sample_plugins:sleep", executor="process"),
    JobKind("t.kill_self", "Kill self", CountParams, "sample_plugins:kill_self", executor="process"),
    JobKind("t.hard_exit", "Hard exit", CountParams, "sample_plugins:hard_exit", executor="process"),
    JobKind("t.flood", "Flood", CountParams, "sample_plugins:flood", executor="process"),
]

# A well-behaved plugin -------------------------------------------------------------------
good = SimpleNamespace(
    studio_plugin_info=hookimpl(lambda: PluginInfo(name="Good", version="1.2.3")),
    studio_job_kinds=hookimpl(lambda: KINDS),
)


def _boom():
    raise RuntimeError("hook exploded")


# A plugin whose hooks raise --------------------------------------------------------------
hook_raises = SimpleNamespace(studio_job_kinds=hookimpl(_boom), studio_panels=hookimpl(_boom))

# A plugin whose panel factory raises, plus a working panel and a file handler -------------
panel_raises = SimpleNamespace(
    studio_panels=hookimpl(
        lambda: [
            PanelSpec("bad:panel", "Bad panel", "sample_plugins:broken_factory"),
            PanelSpec("bad:ok", "OK panel", "sample_plugins:label_factory", area="left"),
        ]
    ),
    studio_open_path=hookimpl(
        lambda path: OpenAction("a .greet file", panel="bad:ok") if Path(path).suffix == ".greet" else None
    ),
    studio_commands=hookimpl(lambda: [MenuAction("bad.hello", "Say hello", "sample_plugins:menu_hello")]),
)


def broken_factory(ctx):
    raise RuntimeError("panel factory exploded")


def label_factory(ctx):
    from PySide6.QtWidgets import QLabel

    from studio.api import Panel

    class OpenerLabel(QLabel, Panel):
        def open_path(self, path):
            self.opened.append(path)

    label = OpenerLabel("ok panel")
    label.opened = []
    return label


def menu_hello(ctx):
    ctx.show_message("hello from a menu")
