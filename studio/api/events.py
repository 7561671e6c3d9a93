"""Typed job events and run statuses: what a job emits and what panels and commands read.

A job emits events through its :class:`~studio.api.JobContext` (``ctx.metric(...)`` and so
on). They travel as plain dicts — over the worker's pipe and one JSON object a line in the
run's ``events.jsonl`` — because a training job emits tens of thousands a second. Readers
get them back as the classes below, parsed once in the studio process::

    def handle_events(self, run_id: str, events: list[Event]) -> None:
        for event in events:
            match event:
                case Metric(name="train/loss", step=step, value=value):
                    self.plot(step, value)
                case Status(status=status) if status.finished:
                    self.done(status)

Each class's ``kind`` is the ``"kind"`` field of the event on disk. Treat the objects as
read-only (they are shared by every subscriber of a batch).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from math import isfinite
from pathlib import Path
from typing import Any, ClassVar


class RunStatus(enum.StrEnum):
    """Where a run is. A ``StrEnum``: it compares equal to the string stored in
    ``run.json`` and in ``status`` events."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the studio stopped while the run was active (set at the next start)

    @property
    def active(self) -> bool:
        return self in ACTIVE_STATUSES

    @property
    def finished(self) -> bool:
        return self in FINISHED_STATUSES


#: statuses of a run that has not ended yet
ACTIVE_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})
#: statuses of a run that has ended, one way or another
FINISHED_STATUSES = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.INTERRUPTED})


def run_status(value: Any) -> RunStatus | None:
    """``value`` as a RunStatus, or None if it is not one (a hand-edited ``run.json``)."""
    try:
        return RunStatus(value)
    except ValueError:
        return None


@dataclass(slots=True)
class Progress:
    """``done`` of ``total`` units (total None: unknown), with a short message."""

    kind: ClassVar[str] = "progress"
    done: float
    total: float | None = None
    message: str = ""
    t: float = 0.0


@dataclass(slots=True)
class Metric:
    """One point of a named curve. ``value`` is None where a NaN was logged (JSON has
    no NaN): a gap in the curve."""

    kind: ClassVar[str] = "metric"
    name: str
    step: float
    value: float | None
    t: float = 0.0


@dataclass(slots=True)
class Log:
    """A line for the Log panel; ``level`` is debug, info, warning or error."""

    kind: ClassVar[str] = "log"
    text: str
    level: str = "info"
    t: float = 0.0


@dataclass(slots=True)
class Artifact:
    """A file or folder the job produced (``artifact_kind``: file, checkpoint, report…)."""

    kind: ClassVar[str] = "artifact"
    path: str
    artifact_kind: str = "file"
    t: float = 0.0


@dataclass(slots=True)
class Span:
    """A finished (or, with ``status == "running"``, announced) step of a trace: a model
    call, a workflow node, a generated sample. ``span_kind`` is what ``ctx.span(kind=…)``
    named it; ``record`` holds every field the span was emitted with, ``kind`` being the
    span's own kind, as trace files store spans."""

    kind: ClassVar[str] = "span"
    span_kind: str = ""
    name: str = ""
    id: str | None = None
    parent: str | None = None
    status: str = "ok"
    error: str | None = None
    start: float | None = None
    duration: float | None = None
    inputs: Any = None
    outputs: Any = None
    record: dict[str, Any] = field(default_factory=dict)
    t: float = 0.0


@dataclass(slots=True)
class Status:
    """The run's status changed. The runner emits these, never a job."""

    kind: ClassVar[str] = "status"
    status: RunStatus
    error: str | None = None
    t: float = 0.0

    @property
    def finished(self) -> bool:
        return self.status.finished


Event = Progress | Metric | Log | Artifact | Span | Status
EVENT_TYPES: tuple[type[Event], ...] = (Progress, Metric, Log, Artifact, Span, Status)
#: every event kind, as stored in the ``kind`` field
EVENT_KINDS: tuple[str, ...] = tuple(t.kind for t in EVENT_TYPES)


def kind_names(kinds: Iterable[str | type[Event]] | None) -> tuple[str, ...] | None:
    """Event classes (or kind names) as kind names: ``(Metric, "log") -> ("metric", "log")``."""
    if kinds is None:
        return None
    return tuple(k if isinstance(k, str) else k.kind for k in kinds)


# ------------------------------------------------------------------------------ parsing


def parse_event(raw: Mapping[str, Any]) -> Event | None:
    """A stored event as its class; None for an unknown kind or a malformed event (a run
    log may hold a hand-edited line, or an event of a newer studio)."""
    kind = raw.get("kind")
    parser = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        return None
    try:
        return parser(raw)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def parse_events(raws: Iterable[Mapping[str, Any]]) -> list[Event]:
    """``parse_event`` over a batch, dropping what does not parse."""
    out = []
    for raw in raws:
        event = parse_event(raw)
        if event is not None:
            out.append(event)
    return out


_NUMBERS = (int, float)  # exact types: a bool is not a number here (a hand-edited log may hold one)


def _number(value: Any, *, optional: bool = False) -> Any:
    """A finite number as it is (an int too big for a float raises OverflowError)."""
    if type(value) in _NUMBERS and isfinite(value):
        return value
    if value is None and optional:
        return None
    raise TypeError(f"not a finite number: {value!r}")


def _text(value: Any, default: str = "") -> str:
    """Text as it is; a lone surrogate (JSON allows ``"\\ud800"``; nothing can print or store
    it) as an escape; anything else as its ``str``."""
    if type(value) is not str:
        return default if value is None else str(value)
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _time(raw: Mapping[str, Any]) -> float:
    t: Any = raw.get("t")
    return t if type(t) in _NUMBERS and isfinite(t) else 0.0


def _ident(value: Any) -> str | None:
    """A span's id or parent: text (or a number, as text); None for a root."""
    if value is None or type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise TypeError(f"not an id: {value!r}")


# The parsers below run for every event a job emits (hundreds of thousands a second from a
# training run): plain field reads and exact-type checks, no generic validation.


def _progress(raw: Mapping[str, Any]) -> Progress:
    return Progress(
        _number(raw.get("done") or 0),
        _number(raw.get("total"), optional=True),
        _text(raw.get("message")),
        _time(raw),
    )


def _metric(raw: Mapping[str, Any]) -> Metric:  # the hottest: checks inlined
    name, step, value = raw["name"], raw["step"], raw.get("value")
    t: Any = raw.get("t")
    if type(step) not in _NUMBERS or not isfinite(step):
        raise TypeError("a metric's step is a finite number")
    if value is not None and (type(value) not in _NUMBERS or not isfinite(value)):
        raise TypeError("a metric's value is a finite number, or null")
    if type(name) is not str or not name.isascii():
        name = _text(name)
    if type(t) not in _NUMBERS or not isfinite(t):
        t = 0.0
    return Metric(name, step, value, t)


def _log(raw: Mapping[str, Any]) -> Log:
    return Log(_text(raw.get("text")), _text(raw.get("level"), "info"), _time(raw))


def _artifact(raw: Mapping[str, Any]) -> Artifact:
    return Artifact(_text(raw["path"]), _text(raw.get("artifact_kind"), "file"), _time(raw))


_SPAN_ENVELOPE = ("t", "kind", "span_kind")


def _span(raw: Mapping[str, Any]) -> Span:
    record = {k: v for k, v in raw.items() if k not in _SPAN_ENVELOPE}
    span_kind = _text(raw.get("span_kind"))
    record["kind"] = span_kind
    error = raw.get("error")
    return Span(
        span_kind,
        _text(raw.get("name")),
        _ident(raw.get("id")),
        _ident(raw.get("parent")),
        _text(raw.get("status"), "ok"),
        None if error is None else str(error),
        _number(raw.get("start"), optional=True),
        _number(raw.get("duration"), optional=True),
        raw.get("inputs"),
        raw.get("outputs"),
        record,
        _time(raw),
    )


def _status(raw: Mapping[str, Any]) -> Status:
    error = raw.get("error")
    return Status(RunStatus(raw["status"]), None if error is None else _text(error), _time(raw))


_PARSERS: dict[str, Callable[[Mapping[str, Any]], Event]] = {
    "progress": _progress,
    "metric": _metric,
    "log": _log,
    "artifact": _artifact,
    "span": _span,
    "status": _status,
}


# ------------------------------------------------------------------------------ files


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file, one a line, skipping lines that are not complete
    objects (a crash can cut the last line). For files of plain records, such as a trace
    file of span records; a run's events are better read with :func:`read_events`."""
    path = Path(path)
    if not path.is_file():
        return
    with open(path, encoding="utf-8", errors="replace") as fh:  # a damaged byte spoils one line, not the log
        for line in fh:
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # not JSON, or an integer of thousands of digits
                continue
            if isinstance(record, dict):
                yield record


def read_events(path: Path) -> list[Event]:
    """The events of a run log (a run folder or its ``events.jsonl``), typed; lines that
    are not events are skipped."""
    path = Path(path)
    return parse_events(read_records(path / "events.jsonl" if path.is_dir() else path))
