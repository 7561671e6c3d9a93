"""The shell's own contributions, made through the same hooks a plugin uses.

Registered by the host as plugin ``studio``. Panel factories are lazy strings, so this
module imports no Qt.
"""

from __future__ import annotations

from pathlib import Path

from studio import __version__
from studio.api import Log, Metric, OpenAction, PanelSpec, PluginInfo, Progress, Status, hookimpl


@hookimpl
def studio_plugin_info() -> PluginInfo:
    return PluginInfo(
        name="Studio shell",
        version=__version__,
        description="Jobs, metrics, plugins and log panels; opens run folders.",
    )


@hookimpl
def studio_panels() -> list[PanelSpec]:
    return [
        PanelSpec(
            "studio:metrics", "Metrics", "studio.qt.panels.metrics:create", area="right", consumes=(Metric, Status)
        ),
        PanelSpec(
            "studio:jobs", "Jobs", "studio.qt.panels.jobs:create", area="bottom", consumes=(Status, Progress, Log)
        ),
        PanelSpec("studio:log", "Log", "studio.qt.panels.log:create", area="bottom", consumes=(Log, Status)),
        PanelSpec("studio:plugins", "Plugins", "studio.qt.panels.plugins:create", area="left"),
    ]


def is_run_path(path: Path) -> Path | None:
    """The run folder that ``path`` names (the folder itself or a file in it), if any."""
    folder = path if path.is_dir() else path.parent
    return folder if (folder / "run.json").exists() and (folder / "events.jsonl").exists() else None


@hookimpl(trylast=True)
def studio_open_path(path: Path) -> OpenAction | None:
    if is_run_path(path):
        return OpenAction(description="show this run's metrics", panel="studio:metrics")
    return None
