"""The public API for Tensor Studio plugins.

A plugin is a module of hook implementations, found through the entry-point group
``tensor_studio.plugins`` (the entry-point name is the plugin id)::

    # pyproject.toml of a third-party plugin
    [project.entry-points."tensor_studio.plugins"]
    hello = "studio_hello.hooks"

    # studio_hello/hooks.py
    from studio.api import hookimpl, JobKind, PanelSpec, PluginInfo

    @hookimpl
    def studio_plugin_info():
        return PluginInfo(name="Hello", version="0.1", description="says hello")

    @hookimpl
    def studio_job_kinds():
        return [JobKind(id="hello.count", title="Count", params=CountParams,
                        runner="studio_hello.jobs:count")]

Everything a plugin may rely on lives in this module; ``studio.core``, ``studio.runtime``
and ``studio.qt`` are internals that may change. Heavy libraries (torch, litellm, Qt
widgets) are referenced by ``"module:function"`` strings and imported only when used, so
the studio starts fast and a worker process never imports Qt.

Jobs receive a :class:`JobContext`; panels receive a :class:`PanelContext`. Both are
narrow facades: a plugin never touches the main window or the job manager directly.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, runtime_checkable

import pluggy
from pydantic import BaseModel

# Readable, atomic files: plugins write their artifacts the way the studio writes its own.
from studio.core.files import StudioFileError, atomic_write_text, looks_like_pickle, read_json, write_json
from studio.core.runs import read_events  # a run's events.jsonl, skipping a line cut by a crash
from studio.core.tables import TableError, read_columns, read_table  # CSV/JSON(L)/Parquet/saved HF datasets

__all__ = [
    "PROJECT",
    "ENTRY_POINT_GROUP",
    "hookimpl",
    "hookspec",
    "PluginInfo",
    "JobKind",
    "PanelSpec",
    "Port",
    "NodeType",
    "NodeRuntime",
    "LLMProvider",
    "MenuAction",
    "CliCommand",
    "OpenAction",
    "ModelPart",
    "ModelLoader",
    "WeightReader",
    "LoadedModel",
    "JobContext",
    "PanelContext",
    "JobCancelled",
    "EVENT_KINDS",
    "resolve",
    "contributions",
    "active_workspace",
    "parse_assignments",
    "merge_settings",
    "StudioFileError",
    "looks_like_pickle",
    "atomic_write_text",
    "read_json",
    "write_json",
    "read_events",
    "get_api_key",
    "read_table",
    "read_columns",
    "TableError",
]

PROJECT = "tensor_studio"
ENTRY_POINT_GROUP = "tensor_studio.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: Every event a job emits has a ``kind`` among these, a ``t`` (Unix time) and fields:
#: progress(done, total, message) · metric(name, step, value) · log(level, text) ·
#: artifact(path, artifact_kind) · span(span fields, see JobContext.span) ·
#: status(status, error?) — status events come from the runner, not from jobs.
EVENT_KINDS = ("progress", "metric", "log", "artifact", "span", "status")

Executor = Literal["async", "process"]
DockArea = Literal["left", "right", "top", "bottom"]


def resolve(ref: str | Callable[..., Any]) -> Callable[..., Any]:
    """Import a lazy ``"package.module:attribute"`` reference (callables pass through)."""
    if callable(ref):
        return ref
    module_name, sep, attr = ref.partition(":")
    if not sep or not attr:
        raise ValueError(f"expected 'module:attribute', got {ref!r}")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


# --------------------------------------------------------------------------- contributions


@dataclass(frozen=True)
class PluginInfo:
    """What the Plugins panel shows about a plugin."""

    name: str
    version: str = ""
    description: str = ""
    icon: str | None = None  # path to an icon file, optional


@dataclass(frozen=True)
class JobKind:
    """A kind of job the studio can run, from the GUI's "Run job…" dialog or the CLI.

    ``params`` is a pydantic model: the UI builds a form from its fields and the CLI
    validates a JSON file against it. ``runner`` is ``"module:function"`` with the
    signature ``run(params, ctx: JobContext)`` (sync or ``async def``). ``process`` jobs
    run in a spawned worker process (heavy compute); ``async`` jobs run in the studio's
    event loop (I/O-bound work; a sync runner is moved to a thread).
    """

    id: str
    title: str
    params: type[BaseModel]
    runner: str
    executor: Executor = "process"
    description: str = ""
    devices: tuple[str, ...] = ("cpu",)


@dataclass(frozen=True)
class PanelSpec:
    """A dockable panel. ``factory`` is ``"module:function"`` taking a PanelContext and
    returning a QWidget; it is imported only when the panel is created.

    The widget may define any of: ``handle_events(run_id, events)`` (receives the event
    kinds listed in ``consumes``), ``open_path(path)``, ``save_state() -> dict`` and
    ``restore_state(dict)``.
    """

    id: str
    title: str
    factory: str | Callable[..., Any]
    area: DockArea = "right"
    consumes: tuple[str, ...] = ()
    visible: bool = True  # shown on first start


@dataclass(frozen=True)
class Port:
    name: str
    type: str = "any"  # a type name; only equal types (or "any") connect


@dataclass(frozen=True)
class NodeType:
    """A node type for the workflow graph editor."""

    id: str
    title: str
    runner: str
    category: str = "General"
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    params: type[BaseModel] | None = None
    description: str = ""


class NodeRuntime(Protocol):
    """Handed to a plugin node's runner as a third argument, when it takes one:
    ``runner(params, inputs, runtime)``. Model calls made through it use the workflow's
    model (or the node's ``params["model"]``), its cache and budget, and appear in the
    trace under the node."""

    async def predict(self, signature: str, instructions: str = "", **inputs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LLMProvider:
    """A model backend beyond litellm's own: model strings starting with ``prefix``
    (for example ``"studio/"``) are sent to ``factory()``'s completion function."""

    id: str
    title: str
    prefix: str
    factory: str


@dataclass(frozen=True)
class MenuAction:
    """A menu entry. ``callback`` is ``"module:function"`` called with a PanelContext."""

    id: str
    title: str
    callback: str | Callable[..., Any]
    menu: str = "Tools"
    shortcut: str | None = None


@dataclass(frozen=True)
class CliCommand:
    """A ``tensor-studio NAME …`` sub-command. ``configure(parser)`` adds arguments;
    ``run(args) -> int`` does the work and returns the exit code. ``args.workspace`` is
    the workspace folder; ``args.run_job(kind, params)`` runs a job to the end like
    ``tensor-studio jobs run`` (run folder, progress bar, Ctrl-C cancels) and returns its
    exit code; ``args.job_params(kind, params_file, set_items)`` reads a job's parameters
    from a params file and ``--set`` items and checks them, as ``jobs run`` does."""

    name: str
    help: str
    configure: str | Callable[..., Any]
    run: str | Callable[..., Any]


@dataclass(frozen=True)
class OpenAction:
    """How a plugin handles an opened or dropped path: show a panel and hand it the path
    (the panel's ``open_path``), and/or start a job."""

    description: str
    panel: str | None = None
    job_kind: str | None = None
    job_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelPart:
    """A building block the trainer can put into a model, chosen by ``id`` in a model
    config. ``kind`` says where it goes: ``"attention"`` (``factory(config)`` returns an
    ``nn.Module`` mapping ``(B, T, C) -> (B, T, C)`` causally) or ``"block"``
    (``factory(config, layer_index)`` returns a whole residual block). ``factory`` is
    ``"module:attribute"`` so a worker process can import it without the GUI."""

    id: str
    kind: Literal["attention", "block"]
    title: str
    factory: str
    description: str = ""


@dataclass(frozen=True)
class ModelLoader:
    """A kind of model checkpoint other plugins can load and measure (the quantizer uses
    it to compute loss and latency of a model it did not build). ``load`` is
    ``"module:function"``: ``load(path) -> LoadedModel | None`` (None: not this kind)."""

    id: str
    title: str
    load: str


@dataclass(frozen=True)
class WeightReader:
    """Weights stored in another form (quantized, sharded…): a checkpoint folder holding a
    file named ``marker`` is read by ``read`` (``"module:function"``: ``read(folder) ->
    dict[str, tensor]`` of float weights), so any loader can open it.

    ``run_stored`` (optional, ``"module:function"``: ``run_stored(model, folder) -> model``)
    turns a model holding those float weights into one that computes in the stored form
    (int8 kernels, say), on the CPU. Loaders call it only to generate, never to train or
    to measure the float model."""

    id: str
    title: str
    marker: str
    read: str
    run_stored: str | None = None


@dataclass
class LoadedModel:
    """A model ready to measure, in eval mode on the CPU.

    ``loss(model, text)`` is the mean next-token loss in nats of ``model`` (this one, or a
    transformed copy such as a quantized one) on the held-out part of ``text``;
    ``example_input(batch_size)`` is an input for ``model(...)`` of that batch size.
    A model that does not predict tokens (an embedder) names what its ``loss`` measures
    in ``loss_name`` instead (lower is better, 0 for the model as loaded)."""

    model: Any
    loss: Callable[[Any, str], float]
    example_input: Callable[[int], Any]
    description: str = ""
    loss_name: str = ""


# --------------------------------------------------------------------------- facades


class JobCancelled(Exception):
    """Raised by ``JobContext.check_cancelled()``; the runner records the job as cancelled."""


@runtime_checkable
class JobContext(Protocol):
    """What a running job can do. Every call is recorded in the run's ``events.jsonl``
    and streamed to the UI; nothing here blocks on the UI."""

    run_id: str
    run_dir: Path
    rank: int  # 0 in a single process; only rank 0 should log and save in DDP runs

    def progress(self, done: float, total: float | None = None, message: str = "") -> None: ...
    def metric(self, name: str, step: int, value: float) -> None: ...
    def log(self, text: str, level: str = "info") -> None: ...
    def artifact(self, path: str | Path, kind: str = "file") -> None: ...
    def span(self, **fields: Any) -> None:
        """A trace span (id, parent, name, inputs, outputs, start, duration, …). A ``kind``
        field (llm, retriever, sample, …) is stored as ``span_kind`` in the event."""
    @property
    def cancelled(self) -> bool: ...
    def check_cancelled(self) -> None: ...


@runtime_checkable
class PanelContext(Protocol):
    """What a panel (or a menu action) can do in the running studio."""

    plugin_id: str

    @property
    def workspace(self) -> Path: ...
    def subscribe(self, callback: Callable[[str, list[dict]], None],
                  kinds: tuple[str, ...] | None = None) -> Callable[[], None]: ...
    def submit_job(self, kind: str, params: dict[str, Any] | BaseModel) -> str: ...
    def settings(self) -> dict[str, Any]: ...
    def save_settings(self, values: dict[str, Any]) -> None: ...
    def show_message(self, text: str, level: str = "info") -> None: ...


# --------------------------------------------------------------------------- hook specs


class HookSpecs:
    """The hooks a plugin may implement. Collecting hooks return a list; the studio calls
    each plugin's implementation separately, so one plugin's error hides nothing else."""

    @hookspec
    def studio_plugin_info(self) -> PluginInfo:  # type: ignore[empty-body]
        """Name, version, description and icon of this plugin."""

    @hookspec
    def studio_job_kinds(self) -> list[JobKind]:  # type: ignore[empty-body]
        """Job kinds this plugin can run."""

    @hookspec
    def studio_panels(self) -> list[PanelSpec]:  # type: ignore[empty-body]
        """Dockable panels."""

    @hookspec
    def studio_workflow_nodes(self) -> list[NodeType]:  # type: ignore[empty-body]
        """Node types for the workflow graph editor."""

    @hookspec
    def studio_llm_providers(self) -> list[LLMProvider]:  # type: ignore[empty-body]
        """Model backends beyond litellm's own."""

    @hookspec
    def studio_commands(self) -> list[MenuAction | CliCommand]:  # type: ignore[empty-body]
        """Menu actions and CLI sub-commands."""

    @hookspec
    def studio_model_parts(self) -> list[ModelPart]:  # type: ignore[empty-body]
        """Attention types and blocks for the trainer's model registry."""

    @hookspec
    def studio_model_loaders(self) -> list[ModelLoader]:  # type: ignore[empty-body]
        """Checkpoint kinds other plugins can load and measure (see ``LoadedModel``)."""

    @hookspec
    def studio_weight_readers(self) -> list[WeightReader]:  # type: ignore[empty-body]
        """Other forms of stored weights that checkpoint loaders can read."""

    @hookspec(firstresult=True)
    def studio_open_path(self, path: Path) -> OpenAction | None:
        """Claim an opened or dropped file or folder; return None to pass."""


def contributions(hook_name: str) -> list[Any]:
    """Every installed plugin's items for a collecting hook, in this process.

    For code that runs outside the studio's own plugin host, such as a job in a worker
    process resolving a model part by id. Plugins are discovered once per process; broken
    ones are skipped, as in the studio.
    """
    from studio.core.plugins import shared_host  # lazy: keeps this module light

    return [item for _plugin_id, item in shared_host().collect(hook_name)]


WORKSPACE_ENV = "TENSOR_STUDIO_WORKSPACE"


def active_workspace() -> Path:
    """The workspace the running studio has open (the GUI's, or the CLI's ``--workspace``),
    for code that is not handed one, such as a workflow node looking up a collection by
    name. Worker processes inherit it. Outside a studio: the default workspace."""
    import os

    from studio.core.paths import default_workspace

    value = os.environ.get(WORKSPACE_ENV)
    return Path(value) if value else default_workspace()


def get_api_key(provider: str) -> tuple[str | None, str]:
    """A provider's API key and where it came from ("environment", "keyring", "not set").
    Keys are handed to the provider per call and never written to any file."""
    from studio.core.secrets import get_secret  # lazy: keyring is slow to import

    return get_secret(provider)


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``["a=1", "b=x", "m.n=2"]`` -> ``{"a": 1, "b": "x", "m": {"n": 2}}``: values parsed as
    JSON when they can be; a dotted key sets a field of a nested group. The ``--set
    KEY=VALUE`` convention of the studio's CLI, for plugin commands too."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key or "" in key.split("."):
            raise ValueError(f"--set expects KEY=VALUE (KEY may be group.field), got {item!r}")
        try:
            value = json.loads(raw, parse_constant=_refuse_constant)
        except json.JSONDecodeError:
            value = raw
        except ValueError:
            raise ValueError(f"--set {key}: {raw} is not a finite number") from None
        *groups, name = key.split(".")
        target = values
        for group in groups:
            if not isinstance(target.setdefault(group, {}), dict):
                raise ValueError(f"--set {key}: {group!r} was set to a value, not a group of settings")
            target = target[group]
        target[name] = value
    return values


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)  # NaN, Infinity, -Infinity: never a setting anyone means


def merge_settings(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it, group by group (a change to ``model.n_layer``
    keeps the file's other ``model`` settings)."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_settings(merged[key], value)
        else:
            merged[key] = value
    return merged
