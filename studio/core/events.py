"""An in-process event bus: jobs publish batches of typed events, panels and the CLI subscribe.

Events travel in batches (a list per call) because a training job can emit tens of
thousands a second; a subscriber that wants fewer updates throttles its own redraws.
A subscriber that raises is logged and skipped, never breaks the publisher.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from studio.api.events import Event, kind_names

log = logging.getLogger(__name__)

Subscriber = Callable[[str, list[Event]], None]


class EventBus:
    def __init__(self) -> None:
        self._subs: list[tuple[Subscriber, frozenset[str] | None]] = []

    def subscribe(self, callback: Subscriber, kinds: tuple[type[Event] | str, ...] | None = None) -> Callable[[], None]:
        """``kinds``: event classes (``Metric``) or kind names (``"metric"``); None: all."""
        names = kind_names(kinds)
        entry = (callback, frozenset(names) if names else None)
        self._subs.append(entry)

        def unsubscribe() -> None:
            if entry in self._subs:
                self._subs.remove(entry)

        return unsubscribe

    def publish(self, run_id: str, events: list[Event]) -> None:
        for callback, kinds in list(self._subs):
            batch = events if kinds is None else [e for e in events if e.kind in kinds]
            if not batch:
                continue
            try:
                callback(run_id, batch)
            except Exception:
                log.exception("event subscriber %r failed", callback)
