"""pytest fixtures for plugin authors, exported through the ``pytest11`` entry point.

Install tensor-studio and these fixtures are available in any test suite:

* ``studio_home`` — an isolated config/data folder (``TENSOR_STUDIO_HOME``), so tests never
  touch the user's settings, layout or workspace.
* ``make_studio(*plugins, discover=False)`` — a Studio with only the given plugin modules
  registered (entry-point discovery off unless asked), on a fresh workspace.
* ``run_job(studio, kind, params)`` — run a job to the end in a fresh event loop and return it.
* ``plugin_distribution(name, entry_points, modules)`` — write a throw-away installed
  distribution (dist-info + modules) onto ``sys.path``: discovered like a pip-installed one.
* ``make_window(*plugins)`` — the main window (offscreen) over ``make_studio(*plugins)``,
  shown and closed with the test (needs pytest-qt).
* ``qasync_loop`` — a qasync event loop on the test's QApplication, for GUI tests with jobs.
* ``llm_server`` — a running ``FakeLLMServer`` (``studio.fake_llm``): an OpenAI-compatible
  chat server on 127.0.0.1 with scripted replies and latency, for LLM code through real HTTP.
* ``run_cli(argv)`` — run ``tensor-studio ARGV…`` in this process and return its exit
  code (output goes to the captured stdout / stderr, as with ``capsys``).
* ``FakeLLMServer``, ``Reply``, ``Fail`` — the scripted server behind ``llm_server`` and
  the items of its script, re-exported from ``studio.fake_llm``.
* ``job_context`` — a ``RecordingContext``: a JobContext that keeps the (typed) events in
  a list, for calling a runner directly in the test process (fast; no worker, no studio).
* ``assert_no_overlap(widget)`` / ``overlapping_widgets(widget)`` — no two visible widgets
  with the same parent drawn over each other (a form squashed below its minimum size, docks
  that do not fit the window); ``assert_fits(window, width, height)`` — the window's minimum
  size fits a screen of that size.

This module imports neither Qt nor torch at import time.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from studio.core.garbage import collect_due
from studio.fake_llm import Fail, FakeLLMServer, Reply  # re-exported: the llm_server fixture's script items
from studio.tiny_hf import tiny_hf_model  # re-exported: tests build Hugging Face folders with no download

__all__ = [
    "Fail",
    "FakeLLMServer",
    "RecordingContext",
    "Reply",
    "assert_fits",
    "assert_no_overlap",
    "loop_until",
    "overlapping_widgets",
    "run_cli",
    "tiny_hf_model",
]


def run_cli(argv: Iterable[Any]) -> int:
    """``tensor-studio ARGV…`` in this process (each item as a string); returns the exit
    code. For plugin tests of their CLI commands: the studio loads in the environment the
    test set up (``studio_home``)."""
    from studio.cli import main

    return main([str(a) for a in argv])


if TYPE_CHECKING:
    from studio.api import Event


@pytest.fixture(autouse=True, scope="session")
def _garbage_collected_on_the_main_thread() -> Iterator[None]:
    """As in the GUI (``studio.core.garbage``): no automatic cycle collection, which could
    run on a fake server's or a worker's thread and destroy Qt objects there (a segfault)."""
    gc.disable()
    yield
    gc.enable()


@pytest.fixture(autouse=True)
def _collect_due_garbage() -> Iterator[None]:
    yield
    collect_due()


@pytest.fixture
def studio_home(tmp_path, monkeypatch) -> Iterator[Path]:
    from studio.core.plugins import reset_process_host

    home = tmp_path / "studio-home"
    monkeypatch.setenv("TENSOR_STUDIO_HOME", str(home))
    monkeypatch.delenv("TENSOR_STUDIO_WORKSPACE", raising=False)  # restored after the test, as studios set it
    reset_process_host()  # the settings here decide which plugins contribute
    yield home
    reset_process_host()  # no later test sees this one's studio or settings


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
    def run(
        studio,
        kind: str,
        params: dict[str, Any] | None = None,
        *,
        cancel_after: float | None = None,
        timeout: float = 60.0,
    ):
        async def go():
            job = studio.jobs.submit(kind, params or {})
            if cancel_after is not None:
                asyncio.get_running_loop().call_later(cancel_after, studio.jobs.cancel, job.id)
            await asyncio.wait_for(studio.jobs.wait(job), timeout)
            return job

        return asyncio.run(go())

    return run


@pytest.fixture
def plugin_distribution(tmp_path, monkeypatch) -> Iterator[Callable[..., Path]]:
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
        from studio.core.plugins import reset_process_host

        reset_process_host()  # api.contributions() sees the new plugin
        return site

    yield make
    for top in made:
        for mod in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
            del sys.modules[mod]
    if made:
        from studio.core.plugins import reset_process_host

        reset_process_host()  # the plugin is gone again


class RecordingContext:
    """A JobContext for unit tests: events are appended to ``events`` (typed, as panels
    get them) and, as in a real run, to ``run_dir/events.jsonl``; ``cancel()`` makes the
    next ``check_cancelled()`` raise, ``cancel_when(predicate)`` does so once an emitted
    event matches. The workspace is the folder above ``run_dir``'s parent, as in a studio;
    ``plugin_id`` names the plugin whose ``data_dir`` the job gets."""

    def __init__(self, run_dir: Path, run_id: str = "test-run", rank: int = 0, plugin_id: str = "test"):
        from studio.api import Folders

        self.run_id = run_id
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.rank = rank
        self.folders = Folders(self.run_dir.parent.parent)
        self.plugin_id = plugin_id
        self.events: list[Any] = []
        self._cancelled = False
        self._cancel_when: Callable[[Any], bool] | None = None

    @property
    def data_dir(self) -> Path:
        return self.folders.plugin_dir(self.plugin_id)

    def _emit(self, raw: dict[str, Any]) -> None:
        import json

        from studio.api import parse_event

        event = parse_event(raw)
        assert event is not None, f"the job emitted a malformed event: {raw!r}"
        self.events.append(event)
        with (self.run_dir / "events.jsonl").open("a", encoding="utf-8") as log:
            log.write(json.dumps(raw, default=str) + "\n")
        if self._cancel_when is not None and self._cancel_when(event):
            self._cancelled = True

    def progress(self, done, total=None, message=""):
        self._emit({"t": time.time(), "kind": "progress", "done": done, "total": total, "message": message})

    def metric(self, name, step, value):
        self._emit({"t": time.time(), "kind": "metric", "name": name, "step": step, "value": float(value)})

    def log(self, text, level="info"):
        self._emit({"t": time.time(), "kind": "log", "level": level, "text": str(text)})

    def artifact(self, path, kind="file"):
        self._emit({"t": time.time(), "kind": "artifact", "path": str(path), "artifact_kind": kind})

    def span(self, **fields):
        from studio.runtime.context import span_event

        self._emit(span_event(time.time(), fields))

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def check_cancelled(self) -> None:
        from studio.api import JobCancelled

        if self._cancelled:
            raise JobCancelled("cancelled by the test")

    def cancel(self) -> None:
        self._cancelled = True

    def cancel_when(self, predicate: Callable[[Any], bool]) -> None:
        """Cancel once an emitted (typed) event makes ``predicate`` true."""
        self._cancel_when = predicate

    def metrics(self, name: str) -> list[tuple[float, float | None]]:
        from studio.api import Metric

        return [(e.step, e.value) for e in self.events if isinstance(e, Metric) and e.name == name]

    def of_kind(self, kind: type[Event] | str) -> list[Any]:
        """The events of one class (``Span``) or kind name (``"span"``)."""
        name = kind if isinstance(kind, str) else kind.kind
        return [e for e in self.events if e.kind == name]


@pytest.fixture
def job_context(tmp_path) -> Callable[..., RecordingContext]:
    """``job_context(name="run")`` makes a RecordingContext with its run folder under tmp_path/runs."""

    def make(name: str = "run", rank: int = 0) -> RecordingContext:
        return RecordingContext(tmp_path / "runs" / name, run_id=name, rank=rank)

    return make


@pytest.fixture
def llm_server():
    """``llm_server.reset(script=[...], latency=0.1)``; ``llm_server.url`` is the api_base."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def make_window(request, make_studio) -> Callable[..., Any]:
    def make(*plugins: ModuleType | tuple[str, ModuleType]):
        from studio.qt.main_window import MainWindow

        qtbot = request.getfixturevalue("qtbot")  # pytest-qt, only when a window is asked for
        window = MainWindow(make_studio(*plugins), quit_on_close=False, confirm_close=False)
        qtbot.addWidget(window)
        window.show()
        return window

    return make


def loop_until(loop, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Run the (qasync) event loop until ``predicate()`` holds: events a finished job still
    has on their way to the panels are delivered by the loop, not by ``qtbot.waitUntil``."""

    async def wait() -> None:
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise TimeoutError(f"not true within {timeout:g} s")
            await asyncio.sleep(0.02)

    loop.run_until_complete(wait())


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


def _describe(widget: Any) -> str:
    name = widget.objectName() or ""
    text = widget.text() if hasattr(widget, "text") and callable(widget.text) else ""
    label = f" {name!r}" if name else (f" {str(text)[:30]!r}" if isinstance(text, str) and text else "")
    return f"{type(widget).__name__}{label}"


#: widgets whose children are their own parts, laid out by the widget itself (a spin box's
#: line edit and buttons): only the widget as a whole is compared with its siblings
_COMPOSITE = ("QAbstractSpinBox", "QComboBox")


def overlapping_widgets(root: Any, *, ignore: Iterable[Any] = ()) -> list[tuple[Any, Any]]:
    """Pairs of visible widgets under ``root`` (a QWidget) that share a parent and whose
    rectangles, clipped to that parent, intersect: a layout squashed below its minimum
    size draws its rows over each other, and docks in a window smaller than its minimum
    size overlap. Windows (dialogs, floating docks) and what lies outside its parent (a
    tab moved aside, a form scrolled away) are left out, as are the widgets in ``ignore``
    and everything in them (an overlay meant to cover its siblings)."""
    from PySide6.QtCore import QRect
    from PySide6.QtWidgets import QWidget

    skip = set(map(id, ignore))
    found: list[tuple[Any, Any]] = []

    def walk(parent: QWidget) -> None:
        if any(parent.inherits(name) for name in _COMPOSITE):
            return
        area = parent.rect()
        shown: list[tuple[QWidget, QRect]] = []
        for child in parent.children():
            if not isinstance(child, QWidget) or child.isWindow() or not child.isVisible() or id(child) in skip:
                continue
            rect = child.geometry().intersected(area)
            if rect.isEmpty():
                continue
            for other, other_rect in shown:
                if rect.intersects(other_rect):
                    found.append((other, child))
            shown.append((child, rect))
            walk(child)

    walk(root)
    return found


def assert_no_overlap(root: Any, *, ignore: Iterable[Any] = ()) -> None:
    """Fail, naming them, if visible widgets under ``root`` are drawn over each other (see
    ``overlapping_widgets``). Lay the widget out first (show it; ``QApplication.processEvents()``)."""
    pairs = overlapping_widgets(root, ignore=ignore)
    if pairs:
        lines = [
            f"{_describe(a.parentWidget())}: {_describe(a)} {_rect(a)} overlaps {_describe(b)} {_rect(b)}"
            for a, b in pairs
        ]
        raise AssertionError(f"{len(pairs)} pair(s) of widgets overlap:\n" + "\n".join(lines[:20]))


def _rect(widget: Any) -> str:
    g = widget.geometry()
    return f"({g.x()},{g.y()} {g.width()}×{g.height()})"


def assert_fits(window: Any, width: int, height: int) -> None:
    """Fail if ``window`` cannot be made as small as ``width``×``height`` (its minimum size
    or the minimum size its layout asks for is larger), or if, resized to that size, it is
    not that size."""
    from PySide6.QtWidgets import QApplication

    for what, size in (("minimum size", window.minimumSize()), ("minimum size hint", window.minimumSizeHint())):
        assert size.width() <= width and size.height() <= height, (
            f"the window's {what} is {size.width()}×{size.height()}: it does not fit {width}×{height}"
        )
    window.resize(width, height)
    QApplication.processEvents()
    actual = window.size()
    assert (actual.width(), actual.height()) == (width, height), (
        f"resized to {width}×{height}, the window is {actual.width()}×{actual.height()}"
    )
