"""The JobContext handed to a running job.

Events are buffered and flushed in batches — to the run's event log on disk and to a sink
(the pipe to the studio, or the in-process event bus) — either when the batch is large or
every ``flush_interval`` seconds by a small flusher thread. Batching is what lets a job
emit tens of thousands of events a second without slowing itself or the UI.

Each event is encoded for the log as it is emitted, in the job's own thread: the flusher
only writes bytes. Encoding the same events later in the flusher cost 5-6x more CPU (they
are cold in another core's cache by then), which tripled a traced model call's cost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio.api import Folders, JobCancelled
from studio.core.runs import EventLog, encode_event

Sink = Callable[[list[dict[str, Any]]], None]


def span_event(t: float, fields: dict[str, Any]) -> dict[str, Any]:
    """The event for a span. Its own kind (llm, retriever, sample…) is stored as
    ``span_kind``, so it never replaces the event's kind ("span"). One dict is built —
    traces emit a few spans per model call, so this is on a hot path."""
    event = {"t": t, "kind": "span", **fields}
    if "kind" in fields:
        event["kind"] = "span"
        event["span_kind"] = fields["kind"]
    return event


class RunContext:
    def __init__(
        self,
        run_id: str,
        run_dir: Path,
        sink: Sink,
        *,
        rank: int = 0,
        flush_interval: float = 0.02,
        max_batch: int = 4096,
        workspace: Path | str | None = None,
        plugin_id: str = "",
    ):
        self.run_id = run_id
        self.run_dir = Path(run_dir)
        self.rank = rank
        # runs live in <workspace>/runs/<id>: a context made without a workspace (tests) infers it
        self.folders = Folders(Path(workspace) if workspace is not None else self.run_dir.parent.parent)
        self.plugin_id = plugin_id
        self._sink = sink
        self._log = EventLog(self.run_dir / "events.jsonl")
        self._buffer: list[dict[str, Any]] = []
        self._lines: list[bytes] = []  # the buffered events, encoded for the log
        self._buffer_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._max_batch = max_batch
        self._flush_interval = flush_interval
        self.cancel_event = threading.Event()
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="studio-event-flusher", daemon=True)
        self._flusher.start()

    # ---------------------------------------------------------------- JobContext API

    def progress(self, done: float, total: float | None = None, message: str = "") -> None:
        self._emit({"t": time.time(), "kind": "progress", "done": done, "total": total, "message": message})

    def metric(self, name: str, step: int, value: float) -> None:
        self._emit({"t": time.time(), "kind": "metric", "name": name, "step": step, "value": float(value)})

    def log(self, text: str, level: str = "info") -> None:
        self._emit({"t": time.time(), "kind": "log", "level": level, "text": str(text)})

    def artifact(self, path: str | Path, kind: str = "file") -> None:
        self._emit({"t": time.time(), "kind": "artifact", "path": str(path), "artifact_kind": kind})

    def span(self, **fields: Any) -> None:
        self._emit(span_event(time.time(), fields))

    @property
    def data_dir(self) -> Path:
        return self.folders.plugin_dir(self.plugin_id or "studio")

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise JobCancelled("cancelled by the user")

    # ---------------------------------------------------------------- plumbing

    def _emit(self, event: dict[str, Any]) -> None:
        line = encode_event(event)
        with self._buffer_lock:
            self._buffer.append(event)
            self._lines.append(line)
            full = len(self._buffer) >= self._max_batch
        if full:
            self.flush()

    def flush(self) -> None:
        with self._write_lock:  # keeps batches in order on disk and in the sink
            with self._buffer_lock:
                batch, self._buffer = self._buffer, []
                lines, self._lines = self._lines, []
            if batch:
                self._log.write_lines(lines)
                self._sink(batch)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._flush_interval):
            try:
                self.flush()
            except Exception:  # a closed pipe at shutdown: the final flush reports it
                return

    def close(self) -> None:
        self._stop.set()
        self._flusher.join(timeout=1.0)
        self.flush()
        self._log.close()
