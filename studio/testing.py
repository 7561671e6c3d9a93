"""pytest fixtures for plugin authors, exported through the ``pytest11`` entry point.

Install tensor-studio and these fixtures are available in any test suite:

* ``studio_home`` — an isolated config/data folder (``TENSOR_STUDIO_HOME``), so tests never
  touch the user's settings, layout or workspace.
* ``make_studio(*plugins, discover=False)`` — a Studio with only the given plugin modules
  registered (entry-point discovery off unless asked), on a fresh workspace.
* ``run_job(studio, kind, params)`` — run a job to the end in a fresh event loop and return it.
* ``plugin_distribution(name, entry_points, modules)`` — write a throw-away installed
  distribution (dist-info + modules) onto ``sys.path``: discovered like a pip-installed one.
* ``qasync_loop`` — a qasync event loop on the test's QApplication, for GUI tests with jobs.

This module imports neither Qt nor torch at import time.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pytest


@pytest.fixture
def studio_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "studio-home"
    monkeypatch.setenv("TENSOR_STUDIO_HOME", str(home))
    return home


@pytest.fixture
def make_studio(studio_home) -> Callable[..., Any]:
    from studio.session import Studio

    def make(*plugins: ModuleType | tuple[str, ModuleType], discover: bool = False, workspace: Path | None = None):
        studio = Studio.load(workspace or studio_home / "workspace", discover=discover)
        for plugin in plugins:
            plugin_id, module = plugin if isinstance(plugin, tuple) else (module_id(plugin), plugin)
            studio.host.register(module, plugin_id)
        studio.jobs = studio._make_jobs()  # pick up the registered plugins' job kinds
        return studio

    return make


def module_id(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


@pytest.fixture
def run_job() -> Callable[..., Any]:
    def run(studio, kind: str, params: dict[str, Any] | None = None, *, cancel_after: float | None = None,
            timeout: float = 60.0):
        async def go():
            job = studio.jobs.submit(kind, params or {})
            if cancel_after is not None:
                asyncio.get_running_loop().call_later(cancel_after, studio.jobs.cancel, job.id)
            await asyncio.wait_for(studio.jobs.wait(job), timeout)
            return job

        return asyncio.run(go())

    return run


@pytest.fixture
def plugin_distribution(tmp_path, monkeypatch) -> Callable[..., Path]:
    """Make a distribution on sys.path: ``plugin_distribution("my-plugin", {"my": "my_mod"},
    {"my_mod": "source code"})``. Removed from sys.path and sys.modules after the test."""
    made: list[str] = []

    def make(name: str, entry_points: dict[str, str], modules: dict[str, str], version: str = "0.1.0") -> Path:
        site = tmp_path / f"site-{name}"
        site.mkdir()
        for module_name, source in modules.items():
            path = site.joinpath(*module_name.split(".")).with_suffix(".py")
            path.parent.mkdir(parents=True, exist_ok=True)
            for parent in path.relative_to(site).parents:
                if str(parent) != ".":
                    (site / parent / "__init__.py").touch()
            path.write_text(textwrap.dedent(source))
            made.append(module_name.split(".")[0])
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(f"[tensor_studio.plugins]\n{lines}\n")
        monkeypatch.syspath_prepend(str(site))
        importlib.invalidate_caches()
        return site

    yield make
    for top in made:
        for mod in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
            del sys.modules[mod]


@pytest.fixture
def qasync_loop(qapp):
    """An asyncio loop driven by Qt (qasync), so GUI tests can run jobs like the studio does."""
    import qasync

    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)
    yield loop
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    finally:
        asyncio.set_event_loop(None)
        loop.close()
