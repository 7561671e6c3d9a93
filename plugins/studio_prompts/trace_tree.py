"""The spans of a run as a tree, built incrementally from span events in any order.

Spans are written when they end, so a child usually arrives before its parent. A child
whose parent is not known yet hangs under a *placeholder* for that parent (at the top
level, status "running"); when the parent's own record arrives, the placeholder is filled
in and moved under its parent. A ``listener`` hears of every change just before and after
it is made (the order Qt's item models need), so a view updates without a reset.
Children are kept in start order. No Qt here: the panel's model wraps this.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ROOT = ""  # the parent id of top-level spans


@dataclass
class Node:
    id: str
    parent: str = ROOT
    record: dict[str, Any] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    child_starts: list[float] = field(default_factory=list)  # parallel to children, for bisect
    placeholder: bool = False

    @property
    def start(self) -> float:
        return float(self.record.get("start") or 0.0)


class Listener:
    """What a view needs to hear; the default hears nothing."""

    def begin_insert(self, parent: str, row: int) -> None: ...
    def end_insert(self) -> None: ...
    def begin_move(self, parent: str, row: int, to_parent: str, to_row: int) -> None: ...
    def end_move(self) -> None: ...
    def updated(self, span_id: str) -> None: ...


class SpanTree:
    def __init__(self, listener: Listener | None = None):
        self.nodes: dict[str, Node] = {ROOT: Node(ROOT, parent=ROOT)}
        self.listener = listener or Listener()

    def __len__(self) -> int:
        return len(self.nodes) - 1

    def __contains__(self, span_id: str) -> bool:
        return span_id in self.nodes and span_id != ROOT

    def children(self, span_id: str = ROOT) -> list[str]:
        return self.nodes[span_id].children

    def row_of(self, span_id: str) -> int:
        return self.nodes[self.nodes[span_id].parent].children.index(span_id)

    def record(self, span_id: str) -> dict[str, Any]:
        return self.nodes[span_id].record

    # ---- building

    def add_many(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.add(record)

    def add(self, record: dict[str, Any]) -> None:
        span_id = record.get("id")
        if not span_id:
            return
        parent_id = record.get("parent") or ROOT
        if parent_id != ROOT and parent_id not in self.nodes:
            self._insert(
                Node(
                    parent_id,
                    ROOT,
                    {"id": parent_id, "name": "…", "status": "running", "start": record.get("start")},
                    placeholder=True,
                )
            )
        node = self.nodes.get(span_id)
        if node is None:
            self._insert(Node(span_id, parent_id, dict(record)))
            return
        node.record = {**node.record, **record} if not node.placeholder else dict(record)
        node.placeholder = False
        if node.parent != parent_id:
            self._move(node, parent_id)
        self.listener.updated(span_id)

    def _row_for(self, parent_id: str, start: float) -> int:
        return bisect.bisect_right(self.nodes[parent_id].child_starts, start)

    def _insert(self, node: Node) -> None:
        row = self._row_for(node.parent, node.start)
        self.listener.begin_insert(node.parent, row)
        self.nodes[node.id] = node
        parent = self.nodes[node.parent]
        parent.children.insert(row, node.id)
        parent.child_starts.insert(row, node.start)
        self.listener.end_insert()

    def _move(self, node: Node, to_parent: str) -> None:
        from_parent, from_row = node.parent, self.row_of(node.id)
        to_row = self._row_for(to_parent, node.start)
        self.listener.begin_move(from_parent, from_row, to_parent, to_row)
        self.nodes[from_parent].children.pop(from_row)
        self.nodes[from_parent].child_starts.pop(from_row)
        node.parent = to_parent
        self.nodes[to_parent].children.insert(to_row, node.id)
        self.nodes[to_parent].child_starts.insert(to_row, node.start)
        self.listener.end_move()

    # ---- questions

    def walk(self, span_id: str = ROOT) -> Iterable[str]:
        """Every span under ``span_id``, depth first, in start order."""
        stack = list(reversed(self.nodes[span_id].children))
        while stack:
            current = stack.pop()
            yield current
            stack.extend(reversed(self.nodes[current].children))

    def totals(self) -> dict[str, Any]:
        """The run's totals: from the top-level spans' subtree totals, plus counts."""
        tops = [self.nodes[s].record for s in self.children()]
        records = [n.record for k, n in self.nodes.items() if k != ROOT]
        return {
            "spans": len(records),
            "errors": sum(r.get("status") == "error" for r in records),
            "cached": sum(bool(r.get("cache_hit")) for r in records),
            "tokens": sum(r.get("total_tokens") or 0 for r in tops),
            "cost": sum(r.get("total_cost") or 0.0 for r in tops),
            "calls": sum(r.get("total_calls") or 0 for r in tops),
            "seconds": max((r.get("start", 0) + (r.get("duration") or 0) for r in records), default=0.0)
            - min((r.get("start", 0) for r in records if r.get("start")), default=0.0),
        }

    def spans_of_node(self, node_id: str) -> list[str]:
        """The spans a workflow node produced: its ``node`` span and everything under it."""
        found = []
        for span_id, node in self.nodes.items():
            if span_id != ROOT and node.record.get("kind") == "node" and node.record.get("name") == node_id:
                found.append(span_id)
                found += list(self.walk(span_id))
        return found

    def node_of_span(self, span_id: str) -> str | None:
        """The workflow node a span belongs to (its nearest ``node`` ancestor), if any."""
        current = span_id
        while current and current != ROOT:
            record = self.nodes[current].record
            if record.get("kind") == "node":
                return record.get("name")
            current = self.nodes[current].parent
        return None
