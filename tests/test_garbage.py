"""Cycles are collected on the GUI thread only (studio.core.garbage): the automatic
collector is off, and what it would have collected is collected when due."""

import gc
import weakref


class Node:
    pass


def a_cycle() -> weakref.ref:
    node = Node()
    node.me = node  # only the cycle collector frees it
    return weakref.ref(node)


def test_collect_due_collects_cycles_once_generation_0_is_past_its_threshold():
    from studio.core.garbage import collect_due

    assert not gc.isenabled()  # the test session runs as the GUI does
    gc.collect()
    alive = a_cycle()
    assert collect_due() == 0 and alive() is not None  # not due yet: nothing collected
    filler = [[] for _ in range(gc.get_threshold()[0] + 10)]  # allocations past the threshold
    assert collect_due() > 0 and alive() is None
    del filler


def test_the_gui_collects_on_its_own_thread(qapp, qtbot):
    from studio.qt.app import _collect_on_the_gui_thread

    gc.collect()
    thresholds = gc.get_threshold()
    # due at once: in a long session, objects freed while the loop waits lower generation
    # 0's count (allocations minus frees) below a threshold a filler list had passed
    gc.set_threshold(1, *thresholds[1:])
    timer = _collect_on_the_gui_thread(qapp)
    try:
        assert not gc.isenabled() and timer.isActive()
        alive = a_cycle()
        filler = [[] for _ in range(10)]
        qtbot.waitUntil(lambda: alive() is None, timeout=2000)
        del filler
    finally:
        timer.stop()
        gc.set_threshold(*thresholds)
