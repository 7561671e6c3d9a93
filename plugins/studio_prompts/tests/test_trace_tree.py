"""The span tree the trace view shows: any arrival order, placeholders, moves, totals."""

from __future__ import annotations

import random
from typing import Any

from studio_prompts.trace_tree import ROOT, Listener, SpanTree


def spans(n_nodes: int = 3, calls: int = 2) -> list[dict]:
    """A workflow → nodes → predictor → llm/parse trace, in the order spans end."""
    out: list[dict[str, Any]] = []
    t = 1000.0
    out.append({"id": "w", "parent": None, "kind": "workflow", "name": "wf", "start": t, "status": "running"})
    for i in range(n_nodes):
        for c in range(calls):
            out.append(
                {
                    "id": f"l{i}{c}",
                    "parent": f"p{i}",
                    "kind": "llm",
                    "name": "m",
                    "start": t + i + c * 0.1,
                    "duration": 0.1,
                    "status": "ok",
                    "tokens": {"prompt": 5, "completion": 2},
                }
            )
        out.append(
            {
                "id": f"p{i}",
                "parent": f"n{i}",
                "kind": "predictor",
                "name": "P",
                "start": t + i,
                "duration": 0.3,
                "status": "ok",
                "total_tokens": 7 * calls,
            }
        )
        out.append(
            {
                "id": f"n{i}",
                "parent": "w",
                "kind": "node",
                "name": f"node{i}",
                "start": t + i,
                "duration": 0.4,
                "status": "ok",
            }
        )
    out.append(
        {
            "id": "w",
            "parent": None,
            "kind": "workflow",
            "name": "wf",
            "start": t,
            "duration": 5.0,
            "status": "ok",
            "total_tokens": 7 * calls * n_nodes,
            "total_calls": calls * n_nodes,
            "total_cost": 0.5,
        }
    )
    return out


def test_children_before_parents_end_up_in_place():
    moves = []

    class Recorder(Listener):
        def begin_move(self, *args):
            moves.append(args)

    tree = SpanTree(Recorder())
    tree.add_many(spans())
    assert tree.children() == ["w"]
    assert tree.children("w") == ["n0", "n1", "n2"]
    assert tree.children("n1") == ["p1"] and tree.children("p1") == ["l10", "l11"]
    assert not any(n.placeholder for n in tree.nodes.values())
    assert moves  # placeholders were moved under their parents
    assert tree.record("w")["status"] == "ok" and tree.record("w")["duration"] == 5.0


def test_any_order_gives_the_same_tree():
    records = spans(4, 3)
    expected = SpanTree()
    expected.add_many(records)
    for seed in range(5):
        shuffled = records[:-1]
        random.Random(seed).shuffle(shuffled)
        tree = SpanTree()
        tree.add_many(shuffled + records[-1:])
        assert {k: n.children for k, n in tree.nodes.items()} == {k: n.children for k, n in expected.nodes.items()}


def test_totals_node_links_and_walk():
    tree = SpanTree()
    tree.add_many(spans())
    totals = tree.totals()
    assert totals["spans"] == 1 + 3 * (1 + 1 + 2) and totals["tokens"] == 42 and totals["calls"] == 6
    assert totals["cost"] == 0.5 and totals["errors"] == 0
    assert tree.spans_of_node("node1") == ["n1", "p1", "l10", "l11"]
    assert tree.node_of_span("l21") == "node2" and tree.node_of_span("w") is None
    assert list(tree.walk())[:4] == ["w", "n0", "p0", "l00"]


def test_ten_thousand_spans_build_one_tree():
    """How fast is benchmarks/inspect_traces.py's to measure (no timed unit tests)."""
    records = spans(n_nodes=2000, calls=3)  # 1 + 2000 * 5 = 10,001 spans
    tree = SpanTree()
    tree.add_many(records)
    assert len(tree) == 10_001
    assert tree.children(ROOT) == ["w"]
