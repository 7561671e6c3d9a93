"""An in-process event bus: jobs publish batches of events, panels and the CLI subscribe.

Events travel in batches (a list per call) because a training job can emit tens of
thousands a second; a subscriber that wants fewer updates throttles its own redraws.
A subscriber that raises is logged and skipped, never breaks the publisher.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

log = logging.getLogger(__name__)

Subscriber = Callable[[str, list[dict[str, Any]]], None]


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"t": time.time(), "kind": kind, **fields}


class EventBus:
    def __init__(self) -> None:
        self._subs: list[tuple[Subscriber, frozenset[str] | None]] = []

    def subscribe(self, callback: Subscriber, kinds: tuple[str, ...] | None = None) -> Callable[[], None]:
        entry = (callback, frozenset(kinds) if kinds else None)
        self._subs.append(entry)

        def unsubscribe() -> None:
            if entry in self._subs:
                self._subs.remove(entry)

        return unsubscribe

    def publish(self, run_id: str, events: list[dict[str, Any]]) -> None:
        for callback, kinds in list(self._subs):
            batch = events if kinds is None else [e for e in events if e.get("kind") in kinds]
            if not batch:
                continue
            try:
                callback(run_id, batch)
            except Exception:
                log.exception("event subscriber %r failed", callback)
