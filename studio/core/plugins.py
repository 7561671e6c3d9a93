"""The plugin host: finds plugins through entry points and keeps each one's failures its own.

pluggy's ``load_setuptools_entrypoints`` stops at the first plugin that fails to import,
and ``pm.hook.x()`` stops at the first implementation that raises. We do both by hand:
each entry point is loaded in its own try/except, and collecting hooks are called one
implementation at a time, so a broken plugin is reported and everything else works.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
from pydantic import BaseModel

from studio import api

log = logging.getLogger(__name__)

BUILTIN_DISTRIBUTION = "tensor-studio"

#: what each collecting hook must return items of
HOOK_TYPES: dict[str, tuple[type, ...]] = {
    "studio_job_kinds": (api.JobKind,),
    "studio_panels": (api.PanelSpec,),
    "studio_workflow_nodes": (api.NodeType,),
    "studio_llm_providers": (api.LLMProvider,),
    "studio_commands": (api.MenuAction, api.CliCommand),
    "studio_model_parts": (api.ModelPart,),
    "studio_model_loaders": (api.ModelLoader,),
    "studio_weight_readers": (api.WeightReader,),
    "studio_model_sources": (api.ModelSource,),
}


@dataclass
class PluginProblem:
    where: str  # "import", "hook studio_panels", "panel trainer:curves", …
    message: str
    traceback: str = ""


@dataclass
class PluginRecord:
    id: str
    module: str
    source: str  # "built-in", "package <dist>", or "registered"
    version: str = ""
    status: str = "loaded"  # loaded | failed | disabled
    info: api.PluginInfo | None = None
    problems: list[PluginProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "loaded" and not self.problems

    @property
    def display_status(self) -> str:
        if self.status == "loaded" and self.problems:
            return "error"
        return self.status

    @property
    def title(self) -> str:
        return self.info.name if self.info else self.id


class PluginHost:
    def __init__(self, disabled: Iterable[str] = (), group: str = api.ENTRY_POINT_GROUP):
        self.group = group
        self.disabled = set(disabled)
        self.pm = pluggy.PluginManager(api.PROJECT)
        self.pm.add_hookspecs(api.HookSpecs)
        self.records: dict[str, PluginRecord] = {}
        self._cache: dict[str, list[tuple[str, Any]]] = {}

    # ------------------------------------------------------------------ discovery

    def discover(self) -> None:
        """Load every entry point of the group; failures are recorded, never raised."""
        for ep in sorted(metadata.entry_points(group=self.group), key=_builtins_first):
            if ep.name in self.records:
                continue  # the same distribution seen twice on sys.path
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else "?"
            source = "built-in" if dist_name == BUILTIN_DISTRIBUTION else f"package {dist_name}"
            version = dist.version if dist is not None else ""
            record = PluginRecord(id=ep.name, module=ep.value, source=source, version=version)
            self.records[ep.name] = record
            if ep.name in self.disabled:
                record.status = "disabled"
                continue
            try:
                module = ep.load()
                self.pm.register(module, name=ep.name)
            except BaseException as exc:  # a plugin may raise anything, even SystemExit
                if isinstance(exc, KeyboardInterrupt):
                    raise
                record.status = "failed"
                record.problems.append(_problem("import", exc))
                log.error("plugin %s failed to load: %s", ep.name, exc)
                continue
            self._read_info(record)
        self._cache.clear()

    def register(self, plugin: ModuleType | object, plugin_id: str, source: str = "registered") -> PluginRecord:
        """Register an already-imported plugin object (tests, embedding)."""
        record = PluginRecord(id=plugin_id, module=getattr(plugin, "__name__", repr(plugin)), source=source)
        self.records[plugin_id] = record
        if plugin_id in self.disabled:
            record.status = "disabled"
            return record
        self.pm.register(plugin, name=plugin_id)
        self._read_info(record)
        self._cache.clear()
        return record

    def _read_info(self, record: PluginRecord) -> None:
        plugin = self.pm.get_plugin(record.id)
        impl = getattr(plugin, "studio_plugin_info", None)
        if impl is None:
            return
        try:
            info = impl()
        except _PLUGIN_FAILURES as exc:  # sys.exit() in a plugin must not end the studio
            record.problems.append(_problem("hook studio_plugin_info", exc))
            return
        if isinstance(info, api.PluginInfo):
            record.info = info
            record.version = info.version or record.version
        else:
            record.problems.append(
                PluginProblem("hook studio_plugin_info", f"returned {type(info).__name__}, expected PluginInfo")
            )

    # ------------------------------------------------------------------ hooks

    def collect(self, hook_name: str) -> list[tuple[str, Any]]:
        """Call a collecting hook implementation by implementation; returns (plugin_id, item)."""
        if hook_name in self._cache:
            return self._cache[hook_name]
        wanted = HOOK_TYPES[hook_name]
        items: list[tuple[str, Any]] = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():  # registration order: first keeps an id
            record = self.records.get(impl.plugin_name)
            try:
                result = impl.function()
                result = list(result or [])
            except _PLUGIN_FAILURES as exc:
                self._report(record, _problem(f"hook {hook_name}", exc))
                continue
            for item in result:
                if isinstance(item, wanted):
                    problem = item_problem(item)
                    if problem:
                        self._report(record, PluginProblem(f"hook {hook_name}", problem))
                        continue
                    items.append((impl.plugin_name, item))
                else:
                    self._report(
                        record,
                        PluginProblem(
                            f"hook {hook_name}",
                            f"returned a {type(item).__name__}, expected {' or '.join(t.__name__ for t in wanted)}",
                        ),
                    )
        self._cache[hook_name] = items
        return items

    def job_kinds(self) -> dict[str, api.JobKind]:
        return self._by_id("studio_job_kinds")

    def panels(self) -> dict[str, api.PanelSpec]:
        return self._by_id("studio_panels")

    def workflow_nodes(self) -> dict[str, api.NodeType]:
        return self._by_id("studio_workflow_nodes")

    def llm_providers(self) -> dict[str, api.LLMProvider]:
        return self._by_id("studio_llm_providers")

    def commands(self) -> list[tuple[str, api.MenuAction | api.CliCommand]]:
        return self.collect("studio_commands")

    def owner(self, hook_name: str, item_id: str) -> str | None:
        for plugin_id, item in self.collect(hook_name):
            if getattr(item, "id", None) == item_id:
                return plugin_id
        return None

    def _by_id(self, hook_name: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for plugin_id, item in self.collect(hook_name):
            if item.id in out:
                self._report(
                    self.records.get(plugin_id),
                    PluginProblem(f"hook {hook_name}", f"id {item.id!r} is already taken by another plugin; ignored"),
                )
                continue
            out[item.id] = item
        return out

    def open_path(self, path: Path) -> tuple[str, api.OpenAction] | None:
        """Ask plugins in pluggy's call order (honours tryfirst/trylast) who handles ``path``."""
        for impl in reversed(self.pm.hook.studio_open_path.get_hookimpls()):
            try:
                action = impl.function(path=Path(path))
            except _PLUGIN_FAILURES as exc:
                self._report(self.records.get(impl.plugin_name), _problem("hook studio_open_path", exc))
                continue
            if isinstance(action, api.OpenAction):
                return impl.plugin_name, action
        return None

    # ------------------------------------------------------------------ problems

    def report_problem(self, plugin_id: str, where: str, exc: BaseException) -> None:
        """Record a failure that happened outside the host (a panel factory, a menu action)."""
        self._report(self.records.get(plugin_id), _problem(where, exc))

    def _report(self, record: PluginRecord | None, problem: PluginProblem) -> None:
        log.error("plugin %s: %s: %s", record.id if record else "?", problem.where, problem.message)
        if record is not None and problem not in record.problems:
            record.problems.append(problem)


# ---------------------------------------------------------------------- the process's host
#
# One host per process answers api.contributions(): the studio's own (GUI or CLI) once it
# is loaded; in a worker process, one built with the studio's disabled list (handed over
# in the job's spec); elsewhere (a script, a test without a studio), one built from the
# saved settings. So a plugin disabled in Settings contributes nothing anywhere.

_process_host: PluginHost | None = None
_process_disabled: frozenset[str] | None = None  # None: read the saved settings


def install_process_host(host: PluginHost) -> None:
    """Make ``host`` the one ``api.contributions()`` asks in this process (the studio's)."""
    global _process_host
    _process_host = host


def configure_process_host(disabled: Iterable[str]) -> None:
    """In a worker process: build the process host, on first use, without ``disabled``."""
    global _process_host, _process_disabled
    _process_host, _process_disabled = None, frozenset(disabled)


def reset_process_host() -> None:
    """Forget the process host; the next use discovers plugins again (tests, after
    installing a plugin)."""
    global _process_host, _process_disabled
    _process_host, _process_disabled = None, None


def process_host() -> PluginHost:
    """The process's plugin host (see above), made on first use."""
    global _process_host
    if _process_host is None:
        disabled = _process_disabled
        if disabled is None:
            from studio.core.settings import load_settings

            disabled = frozenset(load_settings()[0].disabled_plugins)
        _process_host = new_host(disabled)
    return _process_host


def new_host(disabled: Iterable[str] = (), *, discover: bool = True) -> PluginHost:
    """A host with the shell's own contributions and, if ``discover``, every installed plugin."""
    from studio import shell_plugin

    host = PluginHost(disabled=disabled)
    host.register(shell_plugin, "studio", source="built-in")
    if discover:
        host.discover()
    return host


# what a plugin's code may raise that the host reports against it: anything but Ctrl-C,
# SystemExit included (a plugin calling sys.exit() must not end the studio or the CLI)
_PLUGIN_FAILURES = (Exception, SystemExit, GeneratorExit)

_ITEM_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*")


def item_problem(item: Any) -> str | None:
    """Why a contributed item cannot be used as it is, or None. Ids become run folder names
    and dotted keys, so they are plain words; a job kind's params must be a pydantic model
    and its executor one the studio has."""
    item_id = getattr(item, "id", None)
    if item_id is not None and (not isinstance(item_id, str) or not _ITEM_ID.fullmatch(item_id) or ".." in item_id):
        return f"id {item_id!r} is not a plain name (letters, digits, '_', '.', ':' and '-'); ignored"
    if isinstance(item, api.JobKind):
        params: Any = item.params  # declared a model class; a plugin may hand anything
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            return f"job kind {item.id!r}: params must be a pydantic model class, not {item.params!r}; ignored"
        if item.executor not in ("async", "process"):
            return f"job kind {item.id!r}: executor must be 'async' or 'process', not {item.executor!r}; ignored"
    return None


def _builtins_first(ep: metadata.EntryPoint) -> tuple[bool, str]:
    """Built-in plugins register first, so an id they contribute is theirs (the first keeps
    an id); the rest in name order."""
    dist = getattr(ep, "dist", None)
    return (dist is None or dist.metadata["Name"] != BUILTIN_DISTRIBUTION, ep.name)


def _problem(where: str, exc: BaseException) -> PluginProblem:
    try:
        text = str(exc)
    except Exception:  # an exception whose str() raises: still recorded, by its type
        text = "(its message could not be read)"
    message = f"{type(exc).__name__}: {text}".strip()
    return PluginProblem(where, message, "".join(traceback.format_exception(exc)))
