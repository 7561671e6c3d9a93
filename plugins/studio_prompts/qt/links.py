"""Panels of this plugin that talk to each other (the editor and the Traces panel), found
without going through the main window: each registers itself here when created."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

import shiboken6

trace_panels: weakref.WeakSet = weakref.WeakSet()
editors: weakref.WeakSet = weakref.WeakSet()


def alive(panels: weakref.WeakSet) -> Iterator[Any]:
    """The registered panels whose Qt side still exists (a closed window deletes it first)."""
    for panel in list(panels):
        if shiboken6.isValid(panel):
            yield panel
        else:
            panels.discard(panel)
