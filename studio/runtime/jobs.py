"""The job manager: validates params, creates the run folder, queues and runs jobs.

Two executors share one job model:

* ``async`` — the runner runs in this process's asyncio loop (``async def``), or in a
  thread if it is a plain function. For I/O-bound work such as LLM calls.
* ``process`` — the runner runs in a *spawned* worker process (``studio.runtime.worker``).
  A reader thread receives event batches from the pipe and hands them to the loop with
  ``call_soon_threadsafe``, so the loop (and the GUI under qasync) never blocks on I/O.

Cancel is cooperative first (``ctx.cancelled``), then the worker is terminated after a
grace period, then killed. A worker that dies is reported as failed with its exit signal
and its last log lines; the studio carries on.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import math
import multiprocessing
import signal
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from studio.api import Folders, JobError, JobKind, resolve
from studio.api.events import Event, Log, Progress, RunStatus, Status, parse_events
from studio.api.models import SUBMIT_FOLDERS
from studio.core.events import EventBus
from studio.core.files import StudioFileError
from studio.core.runs import Run, RunStore
from studio.runtime.context import RunContext
from studio.runtime.worker import conclude, outcome_of, worker_main

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 5.0
KILL_GRACE_S = 2.0


class ParamsError(JobError):
    pass


def format_validation_error(kind: JobKind, exc: ValidationError) -> str:
    """One line a terminal and a message box both show well: each problem as ``field: why``."""
    problems = [f"{'.'.join(str(p) for p in err['loc']) or '(params)'}: {err['msg']}" for err in exc.errors()]
    return f"invalid parameters for {kind.id}: " + "; ".join(problems)


def unusable_value(value: Any, where: str = "") -> str | None:
    """The first value no job should be given, described: a NaN or infinite number (a typo
    like ``1e999`` or ``Infinity`` that passes a float field), or text that is not valid
    Unicode (a non-UTF-8 file name or argument, which no JSON file can hold)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where or '(params)'}: {value} is not a finite number"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where or '(params)'}: {value.encode('utf-8', 'surrogateescape')!r} is not valid UTF-8 text"
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = unusable_value(item, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


@dataclass
class Job:
    kind: JobKind
    params: BaseModel
    run: Run
    status: RunStatus = RunStatus.QUEUED
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    progress_done: float = 0.0
    progress_total: float | None = None
    progress_message: str = ""
    error: str | None = None
    traceback: str | None = None
    result: Any = None
    last_logs: collections.deque = field(default_factory=lambda: collections.deque(maxlen=20))
    cancel_requested: bool = False
    done: asyncio.Future | None = None
    task: asyncio.Task | None = None  # the coroutine that runs the job
    _cancel: Any = None  # executor-specific cancel callable
    _proc: Any = None  # the worker process of a process job

    @property
    def id(self) -> str:
        return self.run.id

    @property
    def active(self) -> bool:
        return self.status.active

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started

    @property
    def fraction(self) -> float | None:
        if not self.progress_total:
            return None
        return max(0.0, min(1.0, self.progress_done / self.progress_total))


class JobManager:
    def __init__(
        self,
        kinds: dict[str, JobKind],
        store: RunStore,
        bus: EventBus | None = None,
        *,
        max_process: int = 1,
        max_async: int = 4,
        workspace: Path | None = None,
        owners: dict[str, str] | None = None,
        disabled_plugins: list[str] | None = None,
    ):
        """``owners``: the plugin id of each job kind (its ``JobContext.data_dir``);
        ``disabled_plugins``: handed to worker processes, whose plugin host must leave
        them out as the studio's does."""
        self.kinds = kinds
        self.workspace = Path(workspace) if workspace is not None else store.root.parent
        self.owners = owners or {}
        self.disabled_plugins = list(disabled_plugins or [])
        self.store = store
        self.bus = bus or EventBus()
        self.jobs: dict[str, Job] = {}
        self._limits = {"process": max_process, "async": max_async}
        self._semaphores: dict[str, asyncio.Semaphore] = {}

    # ------------------------------------------------------------------ public

    def validate(self, kind_id: str, params: dict[str, Any] | BaseModel | None) -> tuple[JobKind, BaseModel]:
        kind = self.kinds.get(kind_id)
        if kind is None:
            known = ", ".join(sorted(self.kinds)) or "none"
            plugin = kind_id.split(".", 1)[0]
            if plugin in self.disabled_plugins:  # job kinds are named after their plugin by convention
                raise JobError(
                    f"unknown job kind {kind_id!r}: the plugin {plugin!r} is disabled "
                    f"(enable it with 'tensor-studio plugins enable {plugin}')"
                )
            raise JobError(f"unknown job kind {kind_id!r} (known: {known})")
        if isinstance(params, BaseModel):  # validated again, even as the kind's own: forms validate
            params = params.model_dump()  # without the submit context, so a missing model passed them
        try:  # with the submit context: model fields are checked against the workspace now
            model = kind.params.model_validate(params or {}, context={SUBMIT_FOLDERS: Folders(self.workspace)})
        except ValidationError as exc:
            raise ParamsError(format_validation_error(kind, exc)) from None
        except StudioFileError as exc:  # a validator that let a file's problem through as it is
            raise ParamsError(f"invalid parameters for {kind.id}: {exc}") from None
        problem = unusable_value(model.model_dump())
        if problem:
            raise ParamsError(f"invalid parameters for {kind.id}: {problem}")
        return kind, model

    def submit(self, kind_id: str, params: dict[str, Any] | BaseModel | None = None) -> Job:
        """Validate, create the run folder and schedule the job. Needs a running loop."""
        kind, model = self.validate(kind_id, params)
        run = self.store.create(kind.id, model.model_dump(mode="json"), title=kind.title, executor=kind.executor)
        job = Job(kind=kind, params=model, run=run)
        loop = asyncio.get_running_loop()
        job.done = loop.create_future()
        self.jobs[job.id] = job
        self._publish(job, [Status(RunStatus.QUEUED, t=time.time())])
        job.task = loop.create_task(self._run(job), name=f"job {job.id}")  # held: the loop keeps only weak refs
        return job

    def cancel(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None or not job.active or job.cancel_requested:
            return
        job.cancel_requested = True
        if job.status == RunStatus.QUEUED:
            self._finish(job, {"status": RunStatus.CANCELLED, "error": "cancelled before it started"})
        elif job._cancel is not None:
            job._cancel()
        self._publish(job, [Log("cancel requested", t=time.time())])

    @property
    def active_jobs(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.active]

    async def wait(self, job: Job) -> Job:
        assert job.done is not None
        await asyncio.shield(job.done)
        return job

    async def shutdown(self, timeout: float = CANCEL_GRACE_S + KILL_GRACE_S + 1) -> None:
        """Cancel every active job and wait until their workers are gone."""
        active = self.active_jobs
        for job in active:
            self.cancel(job.id)
        if active:
            await asyncio.wait([j.done for j in active if j.done], timeout=timeout)

    def terminate_all(self) -> None:
        """Stop every worker process now, without the event loop (the last resort at exit,
        when the loop is already gone), and record those runs as cancelled."""
        for job in self.active_jobs:
            proc = job._proc
            if proc is not None and proc.is_alive():
                proc.terminate()
                proc.join(KILL_GRACE_S)
                if proc.is_alive():
                    proc.kill()
                    proc.join(KILL_GRACE_S)
            self._finish(job, {"status": RunStatus.CANCELLED, "error": "stopped when the studio closed"})

    # ------------------------------------------------------------------ running

    def _semaphore(self, executor: str) -> asyncio.Semaphore:
        if executor not in self._semaphores:
            self._semaphores[executor] = asyncio.Semaphore(self._limits[executor])
        return self._semaphores[executor]

    async def _run(self, job: Job) -> None:
        async with self._semaphore(job.kind.executor):
            if not job.active:  # cancelled while queued
                return
            job.status, job.started = RunStatus.RUNNING, time.time()
            job.run.update(status=job.status, started=job.started)
            self._publish(job, [Status(RunStatus.RUNNING, t=job.started)])
            try:
                if job.kind.executor == "process":
                    outcome = await self._run_process(job)
                else:
                    outcome = await self._run_async(job)
            except Exception as exc:  # a bug in the runner machinery: report it on the job
                log.exception("job %s: executor failed", job.id)
                outcome = outcome_of(exc)
            self._finish(job, outcome)

    def _finish(self, job: Job, outcome: dict[str, Any]) -> None:
        if not job.active:
            return
        job.status = RunStatus(outcome["status"])
        job.error = outcome.get("error")
        job.traceback = outcome.get("traceback")
        job.result = outcome.get("result")
        job.finished = outcome.get("ended") or time.time()
        fields = {"status": job.status, "finished": job.finished, "error": job.error}
        if job.result is not None:
            fields["result"] = job.result
        try:
            job.run.update(**fields)
        except Exception as exc:  # disk full etc.: the job still ends, the user is told
            log.error("job %s: could not update run.json: %s", job.id, exc)
        self._publish(job, [Status(job.status, job.error, t=job.finished)])
        if job.done is not None and not job.done.done():
            try:
                job.done.set_result(job)
            except RuntimeError:  # its loop is already closed (last-resort stop at exit)
                pass

    def _on_events(self, job: Job, raw: list[dict[str, Any]]) -> None:
        """A batch the job emitted (plain dicts, as stored): parsed once, here, for every
        subscriber."""
        events = parse_events(raw)
        for e in events:
            if isinstance(e, Progress):
                job.progress_done = e.done
                job.progress_total = e.total
                job.progress_message = e.message
            elif isinstance(e, Log):
                job.last_logs.append(e.text)
        self.bus.publish(job.id, events)

    def _publish(self, job: Job, events: list[Event]) -> None:
        self.bus.publish(job.id, events)

    @staticmethod
    def _arm_cancel(job: Job, cancel) -> None:
        """Install the executor's cancel; a cancel that came while the job was starting
        (worker still spawning) is carried out now instead of being lost."""
        job._cancel = cancel
        if job.cancel_requested:
            cancel()

    # ------------------------------------------------------------------ async executor

    async def _run_async(self, job: Job) -> dict[str, Any]:
        loop = asyncio.get_running_loop()

        sink = _OrderedSink(loop, lambda batch: self._on_events(job, batch))
        ctx = RunContext(
            job.id, job.run.dir, sink, workspace=self.workspace, plugin_id=self.owners.get(job.kind.id, "")
        )
        runner = resolve(job.kind.runner)
        if inspect.iscoroutinefunction(runner):
            task = asyncio.ensure_future(runner(job.params, ctx))
        else:
            task = asyncio.ensure_future(asyncio.to_thread(runner, job.params, ctx))

        def cancel() -> None:
            ctx.cancel_event.set()
            loop.call_later(CANCEL_GRACE_S, task.cancel)

        self._arm_cancel(job, cancel)
        exc: BaseException | None = None
        result = None
        try:
            result = await task
        except BaseException as e:  # reported on the job
            exc = e
        outcome = conclude(ctx, exc, result)
        outcome["ended"] = time.time()  # the work's end: what subscribers do with the last events is not
        ctx.close()
        sink.drain()  # the last events reach subscribers before the final status
        return outcome

    # ------------------------------------------------------------------ process executor

    async def _run_process(self, job: Job) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        mp = multiprocessing.get_context("spawn")
        events_recv, events_send = mp.Pipe(duplex=False)
        control_recv, control_send = mp.Pipe(duplex=False)
        spec = {
            "run_id": job.id,
            "run_dir": str(job.run.dir),
            "runner": job.kind.runner,
            "params": job.params,
            "workspace": str(self.workspace),
            "plugin_id": self.owners.get(job.kind.id, ""),
            "disabled_plugins": self.disabled_plugins,
        }
        proc = mp.Process(target=worker_main, args=(events_send, control_recv, spec), name=f"studio-job-{job.id}")
        job._proc = proc
        await loop.run_in_executor(None, proc.start)  # spawning takes a few ms: keep the loop free
        events_send.close()
        control_recv.close()
        finished: asyncio.Future = loop.create_future()

        def read() -> None:
            outcome = None
            try:
                while True:
                    tag, payload = events_recv.recv()
                    if tag == "events":
                        _call_soon(loop, self._on_events, job, payload)
                    elif tag == "done":
                        outcome = payload
            except (EOFError, OSError):
                pass
            except Exception as exc:  # an unpicklable message: report, then wait for exit
                outcome = outcome_of(exc)
            proc.join()
            events_recv.close()
            _call_soon(loop, _set_result, finished, (outcome, proc.exitcode))

        threading.Thread(target=read, name=f"studio-reader-{job.id}", daemon=True).start()

        def cancel() -> None:
            try:
                control_send.send("cancel")
            except OSError:
                pass
            loop.call_later(CANCEL_GRACE_S, _escalate, proc)

        self._arm_cancel(job, cancel)
        outcome, exitcode = await finished
        control_send.close()
        if outcome is not None:
            return outcome
        if job.cancel_requested:
            return {"status": RunStatus.CANCELLED, "error": "cancelled by the user (worker was stopped)"}
        return {"status": RunStatus.FAILED, "error": _describe_exit(exitcode, list(job.last_logs))}


class _OrderedSink:
    """Hands event batches to the loop in the order they were flushed.

    Batches come from the flusher thread and from the loop's own thread; qasync routes
    ``call_soon_threadsafe`` from another thread through one more hop than from its own,
    so scheduling each batch separately can deliver a later one first (a node seen
    "running" after it failed). Each call only asks for a drain; the queue keeps order.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, deliver) -> None:
        self._loop, self._deliver = loop, deliver
        self._queue: collections.deque[list[dict[str, Any]]] = collections.deque()

    def __call__(self, batch: list[dict[str, Any]]) -> None:
        self._queue.append(batch)
        _call_soon(self._loop, self.drain)

    def drain(self) -> None:
        while self._queue:
            self._deliver(self._queue.popleft())


def _call_soon(loop: asyncio.AbstractEventLoop, callback, *args) -> None:
    """Hand work from a thread to the loop; after the loop closed (shutdown) drop it —
    events are already in the run's log on disk."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        pass


def _set_result(future: asyncio.Future, value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _escalate(proc) -> None:
    """Terminate a worker that ignored the cooperative cancel; kill it if that fails too."""
    if proc.is_alive():
        log.warning("worker %s ignored cancel; terminating", proc.pid)
        proc.terminate()
        threading.Timer(KILL_GRACE_S, lambda: proc.is_alive() and proc.kill()).start()


def _describe_exit(exitcode: int | None, last_logs: list[str]) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        what = f"the worker process was killed by {name}"
    else:
        what = f"the worker process exited with code {exitcode} before the job finished"
    if last_logs:
        tail = "\n".join(f"  {line}" for line in last_logs[-5:])
        what += f"; its last log lines:\n{tail}"
    return what
