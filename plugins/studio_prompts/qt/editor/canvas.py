"""The workflow editor's canvas: a NodeGraphQt graph that refuses wires between ports of
incompatible types and hands dropped files to the editor, and the edits the editor makes
on it, each one undoable step. Which ports a node gets, which wires survive a change of
ports, and how nodes are grouped are ``workflow/editing.py``'s and ``workflow/grouping.py``'s
rules; this module draws what they decide."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal

from ...signature import SignatureError
from ...workflow.editing import Ports, identifier_name, io_ports, kept_wires, same_ports
from ...workflow.grouping import plan_group
from ...workflow.runs import NodeState
from ...workflow.schema import WorkflowError
from .. import links
from .inspector import PREDICTOR_KINDS
from .nodegraph import NodeGraph
from .nodes import (
    IDENTIFIER,
    InputsNode,
    OutputsNode,
    WorkflowNode,
    compatible,
    node_class_name,
    show_code,
    show_header,
    show_output,
)

if TYPE_CHECKING:
    from ...workflow.session import WorkflowSession
    from .convert import WorkflowDocument
    from .inspector import Inspector

HEADER_PROPERTIES = ("params", "workflow_type", "title", "name", "port_types")  # what a node's header shows
STATE_COLORS = {
    "queued": (90, 90, 90),
    "running": (50, 100, 200),
    "ok": (50, 140, 70),
    "cached": (60, 150, 140),
    "error": (190, 55, 55),
    "cancelled": (170, 120, 40),
}


class StudioNodeGraph(NodeGraph):
    """NodeGraph that refuses connections between ports of incompatible types, and hands
    dropped files (datasets, workflows) to the editor instead of importing them as sessions."""

    refused = Signal(str)
    files_dropped = Signal(list)

    def _on_node_data_dropped(self, mimedata, pos):
        if mimedata.hasUrls():
            self.files_dropped.emit([Path(u.toLocalFile()) for u in mimedata.urls() if u.toLocalFile()])
            return
        super()._on_node_data_dropped(mimedata, pos)

    def _on_connection_changed(self, disconnected, connected):  # the viewer's drag-to-connect path
        allowed = []
        for a, b in connected:
            out_view, in_view = (a, b) if a.port_type == "out" else (b, a)
            out_node, in_node = self.get_node_by_id(out_view.node.id), self.get_node_by_id(in_view.node.id)
            out_type = out_node.port_type("out", out_view.name) if isinstance(out_node, WorkflowNode) else "any"
            in_type = in_node.port_type("in", in_view.name) if isinstance(in_node, WorkflowNode) else "any"
            if compatible(out_type, in_type):
                allowed.append((a, b))
            else:
                self.refused.emit(
                    f"{out_node.name()}.{out_view.name} ({out_type}) cannot connect to "
                    f"{in_node.name()}.{in_view.name} ({in_type})"
                )
        super()._on_connection_changed(disconnected, allowed)


def ports(node: WorkflowNode) -> tuple[Ports, Ports]:
    """A canvas node's (inputs, outputs) as (name, type)."""
    return (
        [(n, node.port_type("in", n)) for n in node.inputs()],
        [(n, node.port_type("out", n)) for n in node.outputs()],
    )


class CanvasEdits:
    """The editor's edits of its canvas (mixed into ``WorkflowEditor``)."""

    graph: StudioNodeGraph
    doc: WorkflowDocument
    session: WorkflowSession
    inspector: Inspector
    _loading: bool  # drawing a file or a rebuilt node: not a palette drop
    say: Callable[..., None]
    ensure_saved: Callable[[], Path | None]

    # ---- canvas signals

    def _node_created(self, node) -> None:
        """A node dropped from the palette: initialised, and shown in the inspector (it is
        the one selected now; NodeGraphQt selects it without a selection signal)."""
        if self._loading or not isinstance(node, WorkflowNode) or isinstance(node, (InputsNode, OutputsNode)):
            return
        if not node.input_ports() and not node.output_ports():
            self.doc.initialise(node)
        self.inspector.show_node(node)

    def _property_changed(self, node, name: str, _value) -> None:
        if not isinstance(node, WorkflowNode):
            return
        if name in ("params", "workflow_type"):
            show_code(node)  # a function node shows the callable it names
        if name in HEADER_PROPERTIES:
            show_header(node)  # its title, id, kind and signature (undo and redo come here too)

    def _selection_changed(self, selected, _deselected) -> None:
        nodes = self.graph.selected_nodes()
        node = nodes[0] if len(nodes) == 1 and isinstance(nodes[0], WorkflowNode) else None
        self.inspector.show_node(node)
        if node is not None:
            for panel in links.alive(links.trace_panels):
                panel.select_node(node.name())

    def select_node(self, name: str) -> None:
        node = self.graph.get_node_by_name(name)
        if node is not None:  # selection is not an edit: no undo entries (NodeGraphQt would push some)
            for other in self.graph.selected_nodes():
                other.set_property("selected", False, push_undo=False)
            node.set_property("selected", True, push_undo=False)
            self.inspector.show_node(node)

    def paint_state(self, state: NodeState) -> None:
        """A node's state in the run shown (its colour, tooltip and output line). Not an
        edit: no undo entry, and the document stays saved."""
        node = self.graph.get_node_by_name(state.name)
        if node is None:
            return
        rgb = STATE_COLORS.get(state.state, STATE_COLORS["ok"])
        node.set_property("color", (*rgb, 255), push_undo=False)
        node.view.setToolTip(f"{node.name()}: {state.state}" + (f"\n{state.preview}" if state.preview else ""))
        node.run_state = state.state
        show_output(node, state.preview, rgb)

    # ---- selection

    def _chosen(self) -> list[WorkflowNode]:
        """The selected nodes, but the workflow's own inputs and outputs (never deleted or moved)."""
        return [n for n in self.graph.selected_nodes() if not isinstance(n, (InputsNode, OutputsNode))]

    def delete_selected(self) -> None:
        nodes = self._chosen()
        if nodes:
            self.graph.delete_nodes(nodes)

    def copy_selected(self) -> None:
        nodes = self._chosen()
        if nodes:
            self.graph.copy_nodes(nodes)

    def paste(self) -> list:
        """Paste copied nodes (with their parameters and typed ports) under fresh names."""
        nodes = self.graph.paste_nodes() or []
        for node in nodes:
            if isinstance(node, WorkflowNode):
                show_code(node)
                show_header(node)
                name = identifier_name(node.name())
                if name != node.name():
                    node.set_property("name", name, push_undo=False)
        return nodes

    def group_selected(self) -> Path | None:
        """Move the selected nodes into a new sub-workflow file beside this one and put a
        sub-workflow node in their place, wired as they were — one undoable step. The new
        file is written at once and stays on disk if the step is undone (nothing is deleted);
        this workflow is changed on the canvas and saved when the user saves."""
        chosen = self._chosen()
        names = [n.name() for n in chosen]
        path = self.ensure_saved() if names else None
        if not names or path is None:
            return None
        try:
            plan = plan_group(self.doc.to_spec(), path, names)
        except WorkflowError as exc:
            self.say(str(exc), "error")
            return None
        stack = self.graph.undo_stack()
        stack.beginMacro(f"group {', '.join(names)}")
        self.graph.delete_nodes(chosen)
        group = plan.node
        node = self._create(
            f"{IDENTIFIER}.{node_class_name(group.type)}",
            plan.node_id,
            plan.pos or chosen[0].pos(),
            json.dumps(group.params),
            *self.doc.ports_of(group.type, group.params, list(group.inputs)),
        )
        node.title = group.title
        for ref, target, port in plan.wires:
            self.doc.connect(ref, target, port, push_undo=True)
        stack.endMacro()
        self.say(
            f"Grouped {', '.join(names)} into {plan.sub_path.name} (Ctrl+Z undoes it); double-click the node "
            "to open it."
        )
        return plan.sub_path

    # ---- parameters and ports

    def set_params(self, node: WorkflowNode, params: dict[str, Any], title: str | None = None) -> None:
        """Change a node's parameters (and its title, unless None) as one undoable step;
        ports follow a new signature, and connections to ports that still exist (with
        compatible types) are kept."""
        inputs, outputs = self.doc.ports_of(node.get_property("workflow_type"), params, list(node.inputs()))
        stack = self.graph.undo_stack()
        stack.beginMacro(f"edit {node.name()}")
        if title is not None:
            node.set_property("title", title)
        node.set_property("params", json.dumps(params, ensure_ascii=False))
        if not same_ports(*ports(node), inputs, outputs):
            self._replace_ports(node, inputs, outputs)
        stack.endMacro()

    def set_kind(
        self, node: WorkflowNode, type_id: str, params: dict[str, Any], title: str | None = None
    ) -> WorkflowNode:
        """Turn a predictor into another kind (Predict ↔ Chain of thought ↔ ReAct) as one
        undoable step, keeping its name, title, parameters and the connections that still fit."""
        inputs, outputs = self.doc.ports_of(type_id, params, list(node.inputs()))
        stack = self.graph.undo_stack()
        stack.beginMacro(f"make {node.name()} a {PREDICTOR_KINDS.get(type_id, type_id)}")
        if title is not None:
            node.set_property("title", title)
        node.set_property("params", json.dumps(params, ensure_ascii=False))
        fresh = self._replace_ports(node, inputs, outputs, f"{IDENTIFIER}.{node_class_name(type_id)}")
        stack.endMacro()
        return fresh

    def set_io_ports(self, node: WorkflowNode, text: str) -> bool:
        """The workflow's inputs (or outputs), written like the left side of a signature."""
        try:
            fields = io_ports(text)
        except SignatureError as exc:
            self.inspector.problem.setText(str(exc))
            return False
        stack = self.graph.undo_stack()
        stack.beginMacro("edit workflow inputs" if isinstance(node, InputsNode) else "edit workflow outputs")
        if isinstance(node, InputsNode):
            self._replace_ports(node, [], fields)
        else:
            self._replace_ports(node, [(n, "any") for n, _ in fields], [])
        stack.endMacro()
        return True

    def _create(self, type_name: str, name: str, pos, params_json: str, inputs, outputs) -> WorkflowNode:
        """Add a node (an undoable step) with this name, parameters and typed ports."""
        self._loading = True  # not a palette drop: no default parameters, no new name
        try:
            node = self.graph.create_node(type_name, name=name, pos=list(pos), selected=True)
        finally:
            self._loading = False
        node.set_property("name", name, push_undo=False)
        node.set_property("params", params_json, push_undo=False)
        node.set_typed_ports(inputs, outputs)
        return node

    def _replace_ports(
        self, node: WorkflowNode, inputs: Ports, outputs: Ports, type_name: str | None = None
    ) -> WorkflowNode:
        """Rebuild a node under the same name (optionally as another type): delete and
        re-create (both undoable), then reconnect what still fits."""
        wires_in = {
            name: [(p.node().name(), p.name()) for p in port.connected_ports()] for name, port in node.inputs().items()
        }
        wires_out = {
            name: [(p.node().name(), p.name()) for p in port.connected_ports()] for name, port in node.outputs().items()
        }
        name, pos, params, title = node.name(), node.pos(), node.get_property("params"), node.title
        type_name = type_name or node.type_
        self.graph.delete_node(node)
        fresh = self._create(type_name, name, pos, params, inputs, outputs)
        if title:
            fresh.set_property("title", title, push_undo=False)

        def ports_of(other: str):
            found = self.graph.get_node_by_name(other)
            return None if found is None else (found.inputs(), found.outputs())

        for source, source_port, target, target_port in kept_wires(
            name, wires_in, wires_out, inputs, outputs, ports_of
        ):
            out_node, in_node = self.graph.get_node_by_name(source), self.graph.get_node_by_name(target)
            out_node.outputs()[source_port].connect_to(in_node.inputs()[target_port])
        self.inspector.show_node(fresh)
        return fresh
