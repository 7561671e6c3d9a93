"""Runs on disk: one folder per job run, readable and append-only.

    runs/<id>/params.json    the validated parameters
    runs/<id>/run.json       kind, status, times, error (rewritten atomically)
    runs/<id>/events.jsonl   every event the job emitted, one JSON object a line
    runs/<id>/artifacts/     files the job produced

The event log is written by whoever runs the job (the worker process for process jobs),
so events survive a crash of the studio; it is fsync'd in batches. A crash can leave a
half-written last line: readers skip it and writers start a fresh line after it.
"""

from __future__ import annotations

import builtins
import logging
import math
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from studio.api.events import ACTIVE_STATUSES, Event, Log, Metric, RunStatus, read_events, read_records

from .files import StudioFileError, read_json, write_json

log = logging.getLogger(__name__)


def new_run_id(kind: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{secrets.token_hex(2)}"


ORJSON_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def encode_event(event: dict[str, Any]) -> bytes:
    """One line of the event log. orjson: ~5x faster than json.dumps, which matters for
    traces (a few KB a model call). NaN and infinities are written as null (valid JSON);
    unknown objects as str()."""
    return orjson.dumps(event, default=str, option=ORJSON_OPTIONS)


class EventLog:
    """Append-only JSONL writer. Each batch is flushed to the OS at once (a killed process
    loses nothing written); fsync, which guards against power loss, runs at most every
    ``sync_interval`` seconds."""

    def __init__(self, path: Path, sync_interval: float = 0.5):
        self.path = Path(path)
        self.sync_interval = sync_interval
        needs_newline = self.path.exists() and self.path.stat().st_size > 0 and not _ends_with_newline(self.path)
        self._fh = open(self.path, "ab")  # noqa: SIM115 - open for the log's lifetime, closed by close()
        if needs_newline:
            self._fh.write(b"\n")
        self._last_sync = time.monotonic()
        self.count = 0

    def write(self, events: list[dict[str, Any]]) -> None:
        self.write_lines([encode_event(e) for e in events])

    def write_lines(self, lines: list[bytes]) -> None:
        """Events already encoded (``encode_event``), one line each."""
        if not lines:
            return
        self._fh.write(b"".join(lines))
        self._fh.flush()  # one syscall a batch: the OS has it even if the process is killed now
        self.count += len(lines)
        now = time.monotonic()
        if now - self._last_sync >= self.sync_interval:
            self.sync()

    def sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if not self._fh.closed:
            self.sync()
            self._fh.close()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


@dataclass
class Run:
    dir: Path

    @property
    def id(self) -> str:
        return self.dir.name

    @property
    def events_path(self) -> Path:
        return self.dir / "events.jsonl"

    @property
    def artifacts_dir(self) -> Path:
        return self.dir / "artifacts"

    def info(self) -> dict[str, Any]:
        try:
            data = read_json(self.dir / "run.json")
        except StudioFileError as exc:
            return {"id": self.id, "kind": "?", "status": "unreadable", "error": str(exc)}
        problem = _info_problem(data)
        if problem:
            return {"id": self.id, "kind": "?", "status": "unreadable", "error": f"run.json: {problem}"}
        return data

    def update(self, **fields: Any) -> dict[str, Any]:
        data = self.info()
        data.update(fields)
        write_json(self.dir / "run.json", data)
        return data

    def params(self) -> dict[str, Any]:
        return read_json(self.dir / "params.json")

    def events(self) -> list[Event]:
        """The run's events, typed; a line that is not a well-formed event (a hand-edited
        one, say) is skipped."""
        return read_events(self.events_path)

    def raw_events(self) -> Iterator[dict[str, Any]]:
        """The lines of ``events.jsonl`` as stored."""
        return read_records(self.events_path)

    def metrics(self) -> dict[str, tuple[list[float], list[float | None]]]:
        """Scalar metrics by name, as (steps, values), in the order they were logged; a value
        is None where the logged number was NaN. Read from the stored lines, more leniently
        than typed events: a hand-edited metric line without a step still shows, at its
        position in the curve."""
        out: dict[str, tuple[list[float], list[float | None]]] = {}
        for e in self.raw_events():
            value = e.get("value")  # None where a NaN was logged (JSON has no NaN): a gap in the curve
            if e.get("kind") != Metric.kind or (value is not None and not _plain_number(value)):
                continue  # a hand-edited line may hold anything
            steps, values = out.setdefault(str(e.get("name")), ([], []))
            step: Any = e.get("step")
            steps.append(step if _plain_number(step) else len(steps))
            values.append(value)
        return out

    def last_logs(self, n: int = 20) -> list[str]:
        lines = [e.text for e in self.events() if isinstance(e, Log)]
        return lines[-n:]


class RunStore:
    """The ``runs/`` folder of a workspace."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def create(self, kind: str, params: dict[str, Any], **info: Any) -> Run:
        run_id = new_run_id(kind)
        run = Run(self.root / run_id)
        try:
            run.dir.mkdir(parents=True)
            run.artifacts_dir.mkdir()
        except OSError as exc:
            raise StudioFileError(f"cannot create run folder {run.dir}: {exc.strerror or exc}") from exc
        try:
            write_json(run.dir / "params.json", params)
            write_json(
                run.dir / "run.json",
                {
                    "id": run_id,
                    "kind": kind,
                    "status": RunStatus.QUEUED,
                    "created": time.time(),
                    "owner_pid": os.getpid(),
                    **info,
                },
            )
        except StudioFileError:  # a full disk: no half-made run folder is left behind
            shutil.rmtree(run.dir, ignore_errors=True)
            raise
        return run

    def get(self, run_id: str) -> Run:
        run = Run(self.root / run_id)
        if not (run.dir / "run.json").exists():
            raise StudioFileError(f"no run {run_id!r} in {self.root}")
        return run

    def find(self, prefix: str) -> Run:
        """A run by id or a unique part of its id (handy on the command line)."""
        if (self.root / prefix / "run.json").exists():
            return Run(self.root / prefix)
        matches = [r for r in self.list() if prefix in r.id]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise StudioFileError(f"no run matches {prefix!r} in {self.root}")
        raise StudioFileError(f"{prefix!r} matches {len(matches)} runs; give more of the id")

    def list(self) -> list[Run]:
        """All runs, newest first."""
        if not self.root.is_dir():
            return []
        runs = [Run(d) for d in self.root.iterdir() if (d / "run.json").exists()]
        return sorted(runs, key=lambda r: r.id, reverse=True)

    def deletable(self, run_ids: Iterable[str], active: Iterable[str] = ()) -> builtins.list[Run]:
        """The runs with these exact ids, each once, checked for deletion: every id must
        name a run folder of this store (not a part of an id, not a path), and no run may
        be active (queued or running in a live studio or CLI, or among ``active``: the ids
        of the caller's own unfinished jobs). Raises StudioFileError naming every refused
        id; nothing is deleted then."""
        wanted = list(dict.fromkeys(run_ids))
        if not wanted:
            raise StudioFileError("no run named")
        busy = set(active)
        runs, problems = [], []
        for run_id in wanted:
            run = Run(self.root / run_id)
            if not _plain_name(run_id) or not (run.dir / "run.json").is_file():
                problems.append(f"no run {run_id!r} in {self.root}")
                continue
            info = run.info()
            if run_id in busy or (info.get("status") in ACTIVE_STATUSES and _pid_alive(info.get("owner_pid"))):
                problems.append(f"run {run_id} is {info.get('status', 'active')}: cancel it before deleting it")
                continue
            runs.append(run)
        if problems:
            raise StudioFileError("; ".join(problems))
        return runs

    def delete(self, run_ids: Iterable[str], active: Iterable[str] = ()) -> builtins.list[str]:
        """Delete the runs with these exact ids (checked first, all or none: see
        ``deletable``) and return their ids. Only their folders go: run.json first, so a
        folder that cannot be removed completely is no longer listed as a run; a run
        folder that is a link loses the link, not what it points to."""
        deleted: builtins.list[str] = []
        for run in self.deletable(run_ids, active):
            try:
                if run.dir.is_symlink():
                    run.dir.unlink()
                else:
                    (run.dir / "run.json").unlink()
                    shutil.rmtree(run.dir)
            except OSError as exc:
                done = f" (deleted before it: {', '.join(deleted)})" if deleted else ""
                raise StudioFileError(f"could not delete run {run.id}: {exc.strerror or exc}{done}") from exc
            deleted.append(run.id)
        return deleted

    def mark_interrupted(self) -> builtins.list[Run]:  # builtins: `list` here is the method above
        """Runs still marked queued/running whose owning studio process is gone were
        interrupted by a crash or kill: say so in their run.json. Returns them.
        Best effort: a run that cannot be marked (a full or read-only disk) is left as it
        is, and tried again at the next start; no command fails for it."""
        stale = []
        for run in self.list():
            info = run.info()
            if info.get("status") in ACTIVE_STATUSES and not _pid_alive(info.get("owner_pid")):
                try:
                    run.update(
                        status=RunStatus.INTERRUPTED,
                        finished=time.time(),
                        error="the studio stopped while this run was active",
                    )
                except StudioFileError as exc:
                    log.warning("could not mark run %s interrupted: %s", run.id, exc)
                    continue
                stale.append(run)
        return stale


RUN_INFO_TYPES: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "kind": str,
    "status": str,
    "title": str,
    "error": (str, type(None)),
    "created": (int, float),
    "started": (int, float, type(None)),
    "finished": (int, float, type(None)),
    "owner_pid": (int, type(None)),
}


def _info_problem(data: Any) -> str | None:
    """Why a run.json cannot be shown as it is (a hand-edited or foreign file), or None."""
    if not isinstance(data, dict):
        return f"holds {type(data).__name__}, not an object"
    for key, types in RUN_INFO_TYPES.items():
        if key in data and (not isinstance(data[key], types) or isinstance(data[key], bool)):
            return f"{key} is {type(data[key]).__name__}"
    return None


def _plain_name(run_id: str) -> bool:
    """A run id as a folder name of the runs folder: no path, no hidden or parent folder."""
    return bool(run_id) and Path(run_id).name == run_id and not run_id.startswith(".") and "\\" not in run_id


def _plain_number(value: Any) -> bool:
    """An int or float that a float holds (not a bool, not 10**400)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        import psutil

        return psutil.pid_exists(pid)
    except ImportError:  # pragma: no cover - psutil is a dependency
        return True
    except (OverflowError, ValueError):  # a hand-edited run.json: no process has that id
        return False
