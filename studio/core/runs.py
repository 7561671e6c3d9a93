"""Runs on disk: one folder per job run, readable and append-only.

    runs/<id>/params.json    the validated parameters
    runs/<id>/run.json       kind, status, times, error (rewritten atomically)
    runs/<id>/events.jsonl   every event the job emitted, one JSON object a line
    runs/<id>/artifacts/     files the job produced
    runs/.deleting-<id>-<x>  a deleted run whose files could not all be removed (hidden:
                             not a run; the next delete tries again)

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


#: a deleted run's folder is first renamed to a hidden name starting so (one atomic step:
#: it is no longer a run), then removed; what could not be removed stays under that name
DELETING_PREFIX = ".deleting-"


class DeleteIncomplete(StudioFileError):
    """Some runs named for deletion were not deleted, or not completely: ``deleted`` are
    the ids that are no longer runs (some of their files may be left, hidden, in a
    ``.deleting-*`` folder the message names); the others are untouched."""

    def __init__(self, message: str, deleted: list[str]):
        super().__init__(message)
        self.deleted = deleted


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
                    "owner_started": _own_start_time(),
                    **info,
                },
            )
        except StudioFileError:  # a full disk: no half-made run folder is left behind
            shutil.rmtree(run.dir, ignore_errors=True)
            raise
        return run

    def get(self, run_id: str) -> Run:
        run = Run(self.root / run_id)
        if not _is_run_folder(run.dir):
            raise StudioFileError(f"no run {run_id!r} in {self.root}")
        return run

    def find(self, prefix: str) -> Run:
        """A run by id or a unique part of its id (handy on the command line)."""
        if _plain_name(prefix) and _is_run_folder(self.root / prefix):
            return Run(self.root / prefix)
        matches = [r for r in self.list() if prefix in r.id]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise StudioFileError(f"no run matches {prefix!r} in {self.root}")
        raise StudioFileError(f"{prefix!r} matches {len(matches)} runs; give more of the id")

    def list(self) -> list[Run]:
        """All runs, newest first. A run folder that cannot be searched (no permission) is
        listed: its ``info()`` says it is unreadable. Hidden folders (a delete's leftovers)
        are not runs. A runs folder that cannot be read lists nothing (``check_readable``
        says why)."""
        try:
            names = os.listdir(self.root)
        except OSError:
            return []
        runs = [
            Run(self.root / name) for name in names if not name.startswith(".") and _is_run_folder(self.root / name)
        ]
        return sorted(runs, key=lambda r: r.id, reverse=True)

    def check_readable(self) -> None:
        """Raise StudioFileError when the runs folder exists but cannot be listed."""
        try:
            os.listdir(self.root)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StudioFileError(f"cannot read the runs folder {self.root}: {exc.strerror or exc}") from exc

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
            if not _plain_name(run_id) or not _is_run_folder(run.dir):
                problems.append(f"no run {run_id!r} in {self.root}")
                continue
            info = run.info()
            if run_id in busy or (info.get("status") in ACTIVE_STATUSES and _owner_alive(info)):
                problems.append(f"run {run_id} is {info.get('status', 'active')}: cancel it before deleting it")
                continue
            runs.append(run)
        if problems:
            raise StudioFileError("; ".join(problems))
        return runs

    def delete(self, run_ids: Iterable[str], active: Iterable[str] = ()) -> builtins.list[str]:
        """Delete the runs with these exact ids (checked first, all or none: see
        ``deletable``) and return their ids. Only their folders go. Each is first renamed
        to a hidden ``.deleting-<id>-<x>`` folder — one atomic step, after which it is no
        longer a run — and then removed; a run folder that is a link loses the link, not
        what it points to. When a run cannot be renamed (its runs folder is read-only) it
        is left whole; when some of its files cannot be removed (an immutable file, a
        read-only subfolder) they stay in the hidden folder, which the next delete tries
        again (``remove_leftovers``). Either raises DeleteIncomplete, after trying every
        run, naming the file and the reason."""
        deleted: builtins.list[str] = []
        problems: builtins.list[str] = []
        for run in self.deletable(run_ids, active):
            if run.dir.is_symlink():
                try:
                    run.dir.unlink()
                except OSError as exc:
                    problems.append(f"could not delete run {run.id}: {exc.strerror or exc}; nothing of it was removed")
                    continue
                deleted.append(run.id)
                continue
            trash = self.root / f"{DELETING_PREFIX}{run.id[:120]}-{secrets.token_hex(3)}"
            try:
                os.rename(run.dir, trash)
            except OSError as exc:
                problems.append(
                    f"could not delete run {run.id}: cannot rename it in {self.root}: {exc.strerror or exc}; "
                    "nothing of it was removed"
                )
                continue
            deleted.append(run.id)
            problem = _remove_tree(trash)
            if problem is not None:
                problems.append(
                    f"run {run.id} is deleted, but {problem}; what is left of it is in {trash} "
                    "(the next delete tries again, or remove it by hand)"
                )
        if problems:
            raise DeleteIncomplete("; ".join(problems), deleted)
        return deleted

    def leftovers(self) -> builtins.list[Path]:
        """The hidden folders of deleted runs whose files could not all be removed."""
        try:
            names = os.listdir(self.root)
        except OSError:
            return []
        return sorted(self.root / name for name in names if name.startswith(DELETING_PREFIX))

    def remove_leftovers(self) -> builtins.list[str]:
        """Try again to remove what earlier deletes left; returns what still cannot be
        removed, one line each (the folder, the file and why)."""
        remaining = []
        for folder in self.leftovers():
            problem = _remove_tree(folder, root_name=str(folder))
            if problem is not None:
                remaining.append(problem)
        return remaining

    def mark_interrupted(self) -> builtins.list[Run]:  # builtins: `list` here is the method above
        """Runs still marked queued/running whose owning studio process is gone were
        interrupted by a crash or kill: say so in their run.json. Returns them.
        Best effort: a run that cannot be marked (a full or read-only disk) is left as it
        is, and tried again at the next start; no command fails for it."""
        stale = []
        for run in self.list():
            info = run.info()
            if info.get("status") in ACTIVE_STATUSES and not _owner_alive(info):
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
    "owner_started": (int, float, type(None)),
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


def _is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a run.json; a folder that cannot be searched (no
    permission) counts: it is listed as an unreadable run rather than hidden."""
    try:
        return (folder / "run.json").is_file()
    except PermissionError:
        return True
    except OSError:
        return False


def _remove_tree(folder: Path, root_name: str = "its folder") -> str | None:
    """Remove ``folder`` and all in it, as much as can be; None when all went, else the
    first thing that could not be removed and why (``folder`` itself called ``root_name``)."""
    failures: builtins.list[str] = []

    def failed(_function: Any, path: str, exc_info: Any) -> None:
        exc = exc_info[1]
        if not isinstance(exc, FileNotFoundError):  # removed meanwhile (another delete): fine
            what = root_name if Path(path) == folder else str(path)
            failures.append(f"{what} could not be removed ({getattr(exc, 'strerror', None) or exc})")

    shutil.rmtree(folder, onerror=failed)
    return failures[0] if failures else None


_own_started: float | None = None


def _own_start_time() -> float | None:
    """When this process started (psutil's ``create_time``), to tell it from a later
    process that got the same pid."""
    global _own_started
    if _own_started is None:
        try:
            import psutil

            _own_started = psutil.Process().create_time()
        except Exception:  # pragma: no cover - psutil is a dependency; /proc may be hidden
            return None
    return _own_started


#: how far apart two readings of one process's start time may be (psutil derives it from
#: the boot time and clock ticks)
START_TIME_SLACK = 1.0


def _owner_alive(info: dict[str, Any]) -> bool:
    """Whether the studio or CLI process that owns a run (``owner_pid`` in its run.json)
    is still running. Not just any process with that pid: after a crash the pid may be
    reused (or a hand-edited file names pid 1). The owner is the process whose start time
    is ``owner_started``; a run.json written before that was recorded needs a process that
    started before the run was created and runs the studio."""
    pid = info.get("owner_pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return True
    try:
        process = psutil.Process(pid)
        started = process.create_time()
    except (psutil.NoSuchProcess, OverflowError, ValueError):  # gone, or no process can have that id
        return False
    except psutil.Error:  # cannot tell (access denied): taken as alive, so its run is not touched
        return True
    recorded = info.get("owner_started")
    if _plain_number(recorded):
        return abs(started - recorded) <= START_TIME_SLACK
    created = info.get("created")
    if isinstance(created, (int, float)) and _plain_number(created) and started > created + START_TIME_SLACK:
        return False  # a process that started after the run: the pid was reused
    try:
        command = " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True
    return "studio" in command  # tensor-studio, python -m studio.cli, a studio worker
