"""The public API for Tensor Studio plugins: everything a plugin may rely on.

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

``tensor-studio plugin new NAME`` writes such a package, ready to install and test.

The contract, by module (all re-exported here):

* ``items`` — what plugins contribute (JobKind, PanelSpec, NodeType, ModelPart…);
* ``hookspecs`` — the hooks that collect them;
* ``events`` — typed job events (Metric, Progress, Log, Artifact, Span, Status) and
  ``RunStatus``;
* ``contexts`` — what the studio hands to plugin code: JobContext, PanelContext,
  CliContext, their ``Folders``, and the ``Panel`` base class;
* ``models`` — naming a model: ``resolve_model`` (a run id, run folder, checkpoint or
  quantized folder → the model's folder), ``loadable_model`` (and it holds a model),
  ``check_model_field`` (a job's model field checked at submit) and ``list_models`` (for
  model pickers);
* ``tokens`` — ``TokenRecord``: a model call's reply as tokens with log-probabilities and
  top-k alternatives, saved as safetensors + JSON (``TokenRecordError`` when unreadable).

``studio.core``, ``studio.runtime`` and ``studio.qt`` are internals that may change; a
plugin imports only ``studio.api``, ``studio.widgets`` (Qt helpers for panels) and
``studio.testing`` (pytest fixtures). The import contracts in ``pyproject.toml`` hold
every built-in plugin to that.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Readable, atomic files: plugins write their artifacts the way the studio writes its own.
from studio.core.files import StudioFileError, atomic_write_text, looks_like_pickle, read_json, write_json
from studio.core.tables import TableError, read_columns, read_table  # CSV/JSON(L)/Parquet/saved HF datasets

from .contexts import (
    CliContext,
    EventCallback,
    Folders,
    JobCancelled,
    JobContext,
    JobError,
    JobOutcome,
    Panel,
    PanelContext,
)
from .events import (
    ACTIVE_STATUSES,
    EVENT_KINDS,
    EVENT_TYPES,
    FINISHED_STATUSES,
    Artifact,
    Event,
    Log,
    Metric,
    Progress,
    RunStatus,
    Span,
    Status,
    parse_event,
    parse_events,
    read_events,
    read_records,
    run_status,
)
from .hookspecs import ENTRY_POINT_GROUP, PROJECT, HookSpecs, hookimpl, hookspec
from .items import (
    CliCommand,
    DockArea,
    Executor,
    JobKind,
    LLMProvider,
    LoadedModel,
    MenuAction,
    ModelEntry,
    ModelLoader,
    ModelPart,
    ModelSource,
    NodeRuntime,
    NodeType,
    OpenAction,
    PanelSpec,
    PluginInfo,
    Port,
    WeightReader,
)
from .models import (
    PICKLE_SUFFIXES,
    ModelNotFound,
    check_model_field,
    entries_per_run,
    list_models,
    loadable_model,
    model_folder,
    resolve_model,
    submit_folders,
)
from .tokens import TokenRecord, TokenRecordError

__all__ = [
    "PROJECT",
    "ENTRY_POINT_GROUP",
    "hookimpl",
    "hookspec",
    "HookSpecs",
    "PluginInfo",
    "JobKind",
    "PanelSpec",
    "DockArea",
    "Executor",
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
    "ModelEntry",
    "ModelSource",
    "ModelNotFound",
    "entries_per_run",
    "list_models",
    "model_folder",
    "resolve_model",
    "loadable_model",
    "check_model_field",
    "submit_folders",
    "PICKLE_SUFFIXES",
    "JobContext",
    "PanelContext",
    "CliContext",
    "Panel",
    "Folders",
    "JobOutcome",
    "EventCallback",
    "JobCancelled",
    "JobError",
    "Event",
    "Progress",
    "Metric",
    "Log",
    "Artifact",
    "Span",
    "Status",
    "RunStatus",
    "ACTIVE_STATUSES",
    "FINISHED_STATUSES",
    "EVENT_KINDS",
    "EVENT_TYPES",
    "parse_event",
    "parse_events",
    "run_status",
    "resolve",
    "contributions",
    "active_workspace",
    "workspace_folders",
    "parse_assignments",
    "merge_settings",
    "StudioFileError",
    "looks_like_pickle",
    "atomic_write_text",
    "read_json",
    "write_json",
    "read_events",
    "read_records",
    "get_api_key",
    "read_table",
    "read_columns",
    "TableError",
    "TokenRecord",
    "TokenRecordError",
]


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


def contributions(hook_name: str) -> list[Any]:
    """Every enabled plugin's items for a collecting hook (``"studio_model_parts"``…).

    For plugin code that consumes another plugin's contributions, such as a job resolving
    a model part by id. It asks the process's one plugin host: the studio's (GUI or CLI),
    or in a worker process one built with the studio's list of disabled plugins. A plugin
    disabled in Settings contributes nothing here; broken ones are skipped.
    """
    from studio.core.plugins import process_host  # lazy: keeps this module light

    return [item for _plugin_id, item in process_host().collect(hook_name)]


WORKSPACE_ENV = "TENSOR_STUDIO_WORKSPACE"


def active_workspace() -> Path:
    """The workspace the running studio has open (the GUI's, or the CLI's ``--workspace``),
    for code that is not handed one, such as a workflow node looking up a collection by
    name. Worker processes inherit it. Outside a studio: the default workspace."""
    import os

    from studio.core.paths import default_workspace

    value = os.environ.get(WORKSPACE_ENV)
    return Path(value) if value else default_workspace()


def workspace_folders() -> Folders:
    """The :class:`Folders` of the active workspace, for code that has no context."""
    return Folders(active_workspace())


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
