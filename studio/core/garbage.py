"""Cyclic garbage collection on one thread: the GUI thread.

Python runs its cycle collector in whichever thread happens to allocate past a threshold.
A cycle holding Qt objects that is collected on a worker thread (the Inspector's, a job's
event reader, a test's fake HTTP server) destroys them off the GUI thread, and Qt crashes:
rare segfaults in the test suite, in tests that had passed many times. So the studio turns
the automatic collector off and the GUI thread runs :func:`collect_due` (the GUI: a timer;
tests: after each test), with the collector's own thresholds.
"""

from __future__ import annotations

import gc


def collect_due() -> int:
    """Collect what the automatic collector would have collected by now: nothing until
    generation 0 has passed its threshold, then the oldest generation whose count passed
    its own. Returns the number of unreachable objects found."""
    t0, t1, t2 = gc.get_threshold()
    c0, c1, c2 = gc.get_count()
    if c0 <= t0:
        return 0
    return gc.collect(2 if c2 > t2 else 1 if c1 > t1 else 0)
