"""The facades the studio hands to plugin code, and the Panel base class.

* :class:`JobContext` — to a job's runner: emit events, check for cancel, find folders.
* :class:`PanelContext` — to a panel (and a menu action): run jobs, hear their events and
  results, read and save settings, find folders.
* :class:`CliContext` — to a plugin's sub-command: run jobs as ``jobs run`` does, find folders.
* :class:`Panel` — the optional methods a panel widget may define; the shell calls them.

All three contexts answer "where does this go?" the same way (:class:`Folders`), so no
plugin joins workspace paths itself: the workspace's layout is the shell's to change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from studio.core.files import StudioFileError, read_json

from .events import Event, RunStatus, run_status

_PLUGIN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
SHELL_FOLDERS = frozenset({"runs", "workflows", "data", "models"})  # the workspace's own: never a plugin's


class JobCancelled(Exception):
    """Raised by ``JobContext.check_cancelled()``; the runner records the job as cancelled."""


class JobError(Exception):
    """A job could not be started (unknown kind, bad parameters); the message is meant for
    the user. Raised by ``submit_job``."""


@dataclass(frozen=True)
class Folders:
    """Where things live in a workspace. Every context has one (``ctx.folders``)::

        workspace/
            runs/<run id>/        one folder per job run (params, events, artifacts)
            workflows/            workflow files the editor saves
            data/                 datasets the user keeps here
            models/               model folders the user keeps here (Hugging Face folders…)
            <plugin id>/          each plugin's own files (indexes, caches…)

    Folders are created when a plugin asks for its own (``data_dir``), not before.
    """

    workspace: Path

    def __post_init__(self) -> None:  # a str is taken as a path; anything else is refused now
        if not isinstance(self.workspace, (str, Path)):
            raise TypeError(f"Folders takes a workspace path, not {type(self.workspace).__name__}")
        object.__setattr__(self, "workspace", Path(self.workspace))

    @property
    def runs(self) -> Path:
        return self.workspace / "runs"

    def run_dir(self, run_id: str) -> Path:
        """The folder of one run (it exists once the run was submitted)."""
        if not run_id or "/" in run_id or "\\" in run_id or run_id in (".", ".."):
            raise ValueError(f"not a run id: {run_id!r}")
        return self.runs / run_id

    def run_status(self, run_id: str) -> RunStatus | None:
        """How a run stands (its ``run.json``), or None when that cannot be read."""
        try:
            info = read_json(self.run_dir(run_id) / "run.json")
        except (ValueError, StudioFileError):
            return None
        return run_status(info.get("status")) if isinstance(info, dict) else None

    @property
    def workflows(self) -> Path:
        return self.workspace / "workflows"

    @property
    def data(self) -> Path:
        return self.workspace / "data"

    @property
    def models(self) -> Path:
        return self.workspace / "models"

    def plugin_dir(self, plugin_id: str, *, create: bool = True) -> Path:
        """A plugin's own folder, ``<workspace>/<plugin id>/`` (made on first use). Something
        else at that path (a file, a dangling link) or a folder that cannot be made raises a
        ``StudioFileError`` that says so."""
        if not _PLUGIN_ID.fullmatch(plugin_id) or plugin_id in SHELL_FOLDERS:
            raise ValueError(f"not a plugin id: {plugin_id!r}")
        folder = self.workspace / plugin_id
        if create:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise StudioFileError(
                    f"{folder} is not a folder; move it away so the studio can use that name"
                ) from None
            except OSError as exc:
                raise StudioFileError(f"cannot make {folder}: {exc.strerror or exc}") from None
        return folder


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended, for ``PanelContext.when_finished`` callbacks. ``result`` is what
    the runner returned (JSON-able data), None unless it succeeded."""

    run_id: str
    status: RunStatus
    run_dir: Path
    result: Any = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == RunStatus.SUCCEEDED


@runtime_checkable
class JobContext(Protocol):
    """What a running job can do. Every call is recorded in the run's ``events.jsonl``
    and streamed to the UI; nothing here blocks on the UI."""

    run_id: str
    run_dir: Path
    rank: int  # 0 in a single process; only rank 0 should log and save in DDP runs
    plugin_id: str  # the plugin that owns this job kind

    @property
    def folders(self) -> Folders: ...
    @property
    def data_dir(self) -> Path:
        """The folder of the plugin that owns this job kind (``Folders.plugin_dir``)."""

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


EventCallback = Callable[[str, list[Event]], None]


class InWorkspace(Protocol):
    """What the panel and CLI contexts share: the plugin they serve and its workspace."""

    plugin_id: str

    @property
    def workspace(self) -> Path: ...
    @property
    def folders(self) -> Folders: ...
    @property
    def data_dir(self) -> Path:
        """This plugin's own folder in the workspace (made on first use)."""


@runtime_checkable
class PanelContext(InWorkspace, Protocol):
    """What a panel (or a menu action) can do in the running studio. Callbacks run on
    the GUI thread."""

    def subscribe(
        self, callback: EventCallback, kinds: tuple[type[Event] | str, ...] | None = None
    ) -> Callable[[], None]:
        """``callback(run_id, events)`` for every batch of every run's events (only the
        given event classes, if ``kinds``); returns the call that unsubscribes."""

    def submit_job(
        self, kind: str, params: dict[str, Any] | BaseModel, when_finished: Callable[[JobOutcome], None] | None = None
    ) -> str:
        """Start a job; returns its run id. Bad parameters raise (``JobError``: a message
        meant for the user). ``when_finished`` as in :meth:`when_finished`."""

    def when_finished(self, run_id: str, callback: Callable[[JobOutcome], None]) -> None:
        """Call ``callback(outcome)`` once the run has ended (at once if it already has)."""

    def cancel_job(self, run_id: str) -> None: ...
    def settings(self) -> dict[str, Any]: ...
    def save_settings(self, values: dict[str, Any]) -> None: ...
    def show_message(self, text: str, level: str = "info") -> None: ...
    def show_panel(self, panel_id: str) -> Any:
        """Show and raise a panel (its ``PanelSpec.id``, e.g. ``"rag:panel"``);
        returns its widget, or None when no such panel is loaded."""

    def open_path(self, path: Path) -> bool:
        """Open a file or folder as File → Open does (the plugin that claims it gets it)."""


@runtime_checkable
class CliContext(InWorkspace, Protocol):
    """What a plugin's sub-command can do (``CliCommand.run(args, ctx)``)."""

    def job_params(self, kind: str, params_file: Path | None, set_items: list[str]) -> dict[str, Any]:
        """A job's parameters from a params file and ``--set KEY=VALUE`` items, checked
        as ``tensor-studio jobs run`` checks them (a bad one raises a one-line error)."""

    def run_job(self, kind: str, params: dict[str, Any] | BaseModel, quiet: bool = False) -> int:
        """Run a job to the end as ``jobs run`` does (run folder, progress bar, Ctrl-C
        cancels, its result printed as JSON) and return the exit code."""


class Panel:
    """The optional part of a panel widget. Mix it in — ``class MyPanel(QWidget, Panel)``
    — and override what the panel needs; the shell calls these on panels that are a
    ``Panel`` and on no others. Every default does nothing.
    """

    def handle_events(self, run_id: str, events: list[Event]) -> None:
        """Events of any run, of the kinds the PanelSpec ``consumes``."""

    def open_path(self, path: Path) -> None:
        """A file or folder the user opened that this plugin claimed (``studio_open_path``)."""

    def save_state(self) -> dict[str, Any]:
        """What to keep across restarts (JSON-able); given back to ``restore_state``."""
        return {}

    def restore_state(self, state: dict[str, Any]) -> None:
        """The last ``save_state()`` of this panel, after it was created."""

    def workspace_changed(self, workspace: Path) -> None:
        """The studio switched to another workspace folder."""

    def runs_deleted(self, run_ids: list[str]) -> None:
        """The user deleted these runs (their folders are gone): drop what the panel shows
        of them — rows, curves, traces — so no panel offers a run that no longer exists."""
