"""The composition root shared by the GUI and the CLI: settings + plugins + workspace + jobs.

No Qt here. The GUI wraps a Studio in windows; the CLI drives it from the terminal.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from studio.api import WORKSPACE_ENV
from studio.core.events import EventBus
from studio.core.paths import default_workspace
from studio.core.plugins import PluginHost, install_process_host, new_host
from studio.core.runs import RunStore
from studio.core.settings import Settings, load_settings, update_settings
from studio.core.workspace import Workspace
from studio.runtime.jobs import JobManager

log = logging.getLogger(__name__)


class Studio:
    def __init__(self, settings: Settings, host: PluginHost, workspace: Workspace, messages: list[str] | None = None):
        self.settings = settings
        self._settings_on_disk = settings.model_copy(deep=True)  # what save_settings compares against
        self.host = host
        self.bus = EventBus()
        self.messages = messages or []  # things the user should be told at start-up
        self.workspace = workspace
        self.store = RunStore(workspace.runs)
        self.jobs = self._make_jobs()
        os.environ[WORKSPACE_ENV] = str(workspace.root)  # active_workspace(), here and in workers

    @classmethod
    def load(cls, workspace: Path | None = None, *, discover: bool = True, create: bool = True) -> Studio:
        """Load settings, discover plugins and open the workspace.

        ``workspace`` None means the last one used, else the default one (created on first
        start). An explicitly named workspace that does not exist raises WorkspaceError
        unless ``create`` is set.
        """
        settings, problem = load_settings()
        messages = [problem] if problem else []
        host = new_host(settings.disabled_plugins, discover=discover)
        if discover:  # api.contributions() in this process answers from the studio's host
            install_process_host(host)  # (tests that register plugins by hand keep the default one)
        ws = cls._open_workspace(settings, workspace, create, messages)
        studio = cls(settings, host, ws, messages)
        stale = studio.store.mark_interrupted()  # best effort: a full disk must not stop the CLI
        if stale:
            messages.append(f"{len(stale)} run(s) were interrupted when the studio last stopped; they are marked so.")
        return studio

    @staticmethod
    def _open_workspace(settings: Settings, path: Path | None, create: bool, messages: list[str]) -> Workspace:
        ws: Workspace | None = None
        if path is not None:
            ws = Workspace.create(path) if create else Workspace.open(path)
        elif settings.workspace:
            try:
                ws = Workspace.open(Path(settings.workspace))
            except Exception as exc:
                messages.append(f"The last workspace could not be opened ({exc}); using the default one.")
        if ws is None:
            ws = Workspace.create(default_workspace())
        settings.remember_workspace(ws.root)
        return ws

    def _make_jobs(self) -> JobManager:
        kinds = self.host.job_kinds()
        return JobManager(
            kinds,
            self.store,
            self.bus,
            max_process=self.settings.max_process_jobs,
            max_async=self.settings.max_async_jobs,
            workspace=self.workspace.root,
            owners={k: self.host.owner("studio_job_kinds", k) or "studio" for k in kinds},
            disabled_plugins=sorted(self.host.disabled),
        )

    def switch_workspace(self, workspace: Workspace) -> None:
        """Point the studio at another workspace (only when no job is active)."""
        if self.jobs.active_jobs:
            raise RuntimeError("finish or cancel the running jobs before switching workspace")
        self.workspace = workspace
        self.store = RunStore(workspace.runs)
        self.jobs = self._make_jobs()
        os.environ[WORKSPACE_ENV] = str(workspace.root)
        self.settings.remember_workspace(workspace.root)
        self.save_settings()

    def save_settings(self) -> None:
        """Write the settings this process changed since it loaded them, field by field, over
        the file as it is now (under a lock): a change made meanwhile by another process —
        the CLI disabling a plugin while the studio is open — is kept. Nothing changed,
        nothing written."""
        changed = self._changed_settings()
        if not changed:
            return

        def apply(disk: Settings) -> None:
            for name, value in changed.items():
                if name == "plugin_settings":  # one plugin's settings at a time
                    disk.plugin_settings = {**disk.plugin_settings, **value}
                else:
                    setattr(disk, name, value)

        self._write_settings(apply)

    def update_settings(self, change, *, strict: bool = False) -> None:
        """Apply ``change(settings)`` here and to the file under its lock (read, change,
        write): for edits that must merge with others', like enabling one plugin.
        ``strict``: a file that cannot be written raises StudioFileError and nothing
        changes (the CLI's ``plugins disable`` must not report a change it could not
        keep); else the change holds for this session and the failure is logged."""
        if not strict:
            change(self.settings)
        self._write_settings(change, strict)
        if strict:
            change(self.settings)

    def _changed_settings(self) -> dict:
        now, before = self.settings.model_dump(), self._settings_on_disk.model_dump()
        changed = {k: v for k, v in now.items() if v != before[k]}
        if "plugin_settings" in changed:
            old = before["plugin_settings"]
            changed["plugin_settings"] = {k: v for k, v in now["plugin_settings"].items() if old.get(k) != v}
        return changed

    def _write_settings(self, change, strict: bool = False) -> None:
        try:
            update_settings(change)
        except Exception as exc:  # an unwritable config dir must not take the studio down
            if strict:
                raise
            log.error("could not save settings: %s", exc)
            return
        change(self._settings_on_disk)
