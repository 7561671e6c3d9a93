"""Entry point of a spawned worker process: runs one job, streams its events back.

Messages to the studio over ``events_conn``: ``("events", [event, …])`` and finally
``("done", outcome)``. Messages from the studio over ``control_conn``: ``"cancel"``.
If the studio disappears (the control pipe closes), the job is cancelled and the worker
exits after a grace period, so no orphan keeps computing. Never imports Qt.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import threading
import traceback
from typing import Any

from studio.api import WORKSPACE_ENV, JobCancelled, RunStatus, resolve

ORPHAN_GRACE_S = 5.0


def outcome_of(exc: BaseException | None, result: Any = None) -> dict[str, Any]:
    if exc is None:
        return {"status": RunStatus.SUCCEEDED, "result": _jsonable(result)}
    if isinstance(exc, (JobCancelled, asyncio.CancelledError)):
        return {"status": RunStatus.CANCELLED, "error": "cancelled by the user"}
    return {"status": RunStatus.FAILED, "error": error_text(exc), "traceback": "".join(traceback.format_exception(exc))}


def error_text(exc: BaseException) -> str:
    """A failure as the user reads it. A StudioFileError (and a plugin's subclass of it)
    is written for the user, so its message stands alone; anything else keeps its class
    name, which says what kind of failure it was (``ZeroDivisionError: …``)."""
    from studio.core.files import StudioFileError

    if isinstance(exc, StudioFileError) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def conclude(ctx: Any, exc: BaseException | None, result: Any = None) -> dict[str, Any]:
    """The outcome of a finished runner; a failure's traceback also goes into the job's log."""
    outcome = outcome_of(exc, result)
    if outcome["status"] == RunStatus.FAILED:
        ctx.log(outcome["traceback"], level="error")
    return outcome


def call_runner(runner: Any, params: Any, ctx: Any) -> Any:
    if inspect.iscoroutinefunction(runner):
        return asyncio.run(runner(params, ctx))
    return runner(params, ctx)


def worker_main(events_conn, control_conn, spec: dict[str, Any]) -> None:
    from studio.core.plugins import configure_process_host
    from studio.runtime.context import RunContext

    # Ctrl-C in a terminal reaches every process of the foreground group, this worker too.
    # The studio turns it into a cancel (the job stops at its next check and saves), so the
    # worker must not die of the same key first. Processes the job starts inherit this.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    send_lock = threading.Lock()

    def send(message: tuple) -> None:
        with send_lock:
            events_conn.send(message)

    # api.contributions() here must see the plugins the studio sees: not the disabled ones
    configure_process_host(spec.get("disabled_plugins", ()))
    if spec.get("workspace"):  # api.active_workspace() is the job's, whatever the environment said
        os.environ[WORKSPACE_ENV] = str(spec["workspace"])
    ctx = RunContext(
        spec["run_id"],
        spec["run_dir"],
        lambda batch: send(("events", batch)),
        workspace=spec.get("workspace"),
        plugin_id=spec.get("plugin_id", ""),
    )

    def listen() -> None:
        try:
            while True:
                if control_conn.recv() == "cancel":
                    ctx.cancel_event.set()
        except (EOFError, OSError):  # the studio is gone: stop, then leave
            ctx.cancel_event.set()
            threading.Timer(ORPHAN_GRACE_S, os._exit, args=(3,)).start()

    threading.Thread(target=listen, name="studio-control", daemon=True).start()

    exc: BaseException | None = None
    result = None
    try:
        runner = resolve(spec["runner"])
        result = call_runner(runner, spec["params"], ctx)
    except BaseException as e:  # everything is reported, SystemExit included
        exc = e
    outcome = conclude(ctx, exc, result)
    try:
        ctx.close()
        send(("done", outcome))
    except (BrokenPipeError, OSError):
        pass
    events_conn.close()


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)
