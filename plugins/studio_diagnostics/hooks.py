"""The diagnostics plugin's contributions: its self-test job kind."""

from __future__ import annotations

from studio.api import JobKind, PluginInfo, hookimpl

from .config import StreamParams


@hookimpl
def studio_plugin_info() -> PluginInfo:
    return PluginInfo(
        name="Diagnostics",
        version="0.1.0",
        description="Self-test jobs for the job system, event stream and metrics panel.",
    )


@hookimpl
def studio_job_kinds() -> list[JobKind]:
    return [
        JobKind(
            id="diagnostics.stream",
            title="Self-test: stream synthetic metrics",
            params=StreamParams,
            runner="studio_diagnostics.jobs:stream",
            executor="process",
            description="Emits training-like loss curves at a set rate in a worker process.",
        ),
    ]
