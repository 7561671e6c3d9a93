"""A workflow file on the canvas and back: nodes, typed ports, connections, positions.

``WorkflowDocument.load(spec)`` draws a ``WorkflowFile`` on a NodeGraphQt graph;
``to_spec()`` reads the graph back into a ``WorkflowFile`` — the round trip is exact for
everything the file holds (a test saves, loads and compares). The workflow's own inputs
and outputs are two fixed nodes, ``inputs`` and ``outputs``; their positions are kept in
the file's ``layout`` like any node's. Which file is open, its header (name, description,
model) and the ports each node type has are the session's (``workflow/session.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...workflow.editing import default_params, fresh_name
from ...workflow.schema import NodeSpec, PortSpec, WorkflowFile
from ...workflow.session import WorkflowSession
from .nodes import (
    IDENTIFIER,
    INPUTS_NODE,
    OUTPUTS_NODE,
    InputsNode,
    MissingNode,
    OutputsNode,
    WorkflowNode,
    node_class_name,
)


class WorkflowDocument:
    def __init__(self, graph, session: WorkflowSession):
        self.graph = graph
        self.session = session

    @property
    def path(self) -> Path | None:
        return self.session.path

    @property
    def node_types(self) -> dict[str, Any]:
        return self.session.node_types  # type id → NodeType (built-in and plugins)

    # ---- file → graph

    def load(self, spec: WorkflowFile, path: Path | None = None) -> None:
        self.session.loading(spec, path)
        graph = self.graph
        graph.clear_session()
        layout = spec.layout
        inputs = self._create(InputsNode, INPUTS_NODE, layout.get(INPUTS_NODE, [-300.0, 0.0]))
        inputs.set_typed_ports([], [(name, port.type) for name, port in spec.inputs.items()])
        inputs.set_property("params", json.dumps({k: v.model_dump() for k, v in spec.inputs.items()}), push_undo=False)
        referenced: dict[str, list[str]] = {}
        for ref in [r for n in spec.nodes.values() for r in n.inputs.values()] + list(spec.outputs.values()):
            source, _, port = ref.partition(".")
            referenced.setdefault(source, []).append(port)
        for i, (node_id, node) in enumerate(spec.nodes.items()):
            self._create_workflow_node(
                node_id, node, layout.get(node_id, [i * 260.0, 0.0]), sorted(set(referenced.get(node_id, [])))
            )
        outputs = self._create(OutputsNode, OUTPUTS_NODE, layout.get(OUTPUTS_NODE, [len(spec.nodes) * 260.0, 0.0]))
        outputs.set_typed_ports([(name, "any") for name in spec.outputs], [])
        for node_id, node in spec.nodes.items():
            for port, ref in node.inputs.items():
                self.connect(ref, node_id, port)
        for name, ref in spec.outputs.items():
            self.connect(ref, OUTPUTS_NODE, name)
        graph.clear_undo_stack()

    def _create(self, cls: type[WorkflowNode], name: str, pos: list[float]) -> WorkflowNode:
        node = self.graph.create_node(
            f"{cls.__identifier__}.{cls.__name__}", name=name, pos=list(pos), selected=False, push_undo=False
        )
        if node.name() != name:  # NodeGraphQt makes names unique; ours already are
            node.set_property("name", name, push_undo=False)
        return node

    def _create_workflow_node(self, node_id: str, node: NodeSpec, pos: list[float], referenced: list[str]):
        node_type = self.node_types.get(node.type)
        type_name = (
            f"{IDENTIFIER}.{node_class_name(node.type)}"
            if node_type is not None
            else f"{MissingNode.__identifier__}.{MissingNode.__name__}"
        )
        canvas = self.graph.create_node(type_name, name=node_id, pos=list(pos), selected=False, push_undo=False)
        if canvas.name() != node_id:
            canvas.set_property("name", node_id, push_undo=False)
        canvas.set_property("params", json.dumps(node.params), push_undo=False)
        canvas.title = node.title
        if node_type is None:
            canvas.set_property("missing_type", node.type, push_undo=False)
            canvas.set_typed_ports([(p, "any") for p in node.inputs], [(p, "any") for p in referenced])
            return canvas
        inputs, outputs = self.ports_of(node.type, node.params, list(node.inputs))
        for port in referenced:  # a port something reads but the type does not declare: keep the wire
            if port not in [name for name, _ in outputs]:
                outputs.append((port, "any"))
        canvas.set_typed_ports(inputs, outputs)
        return canvas

    def ports_of(self, type_id: str, params: dict[str, Any], bound: list[str]):
        return self.session.ports_of(type_id, params, bound)

    def connect(self, ref: str, node_id: str, port: str, push_undo: bool = False) -> None:
        """Wire ``ref`` (``node.port`` or ``input.name``) to ``node_id``'s input ``port``;
        loading a file does it without undo entries, an edit with them."""
        source, _, out_port = ref.partition(".")
        source_node = self.graph.get_node_by_name(INPUTS_NODE if source == "input" else source)
        target = self.graph.get_node_by_name(node_id)
        if source_node is None or target is None:
            return
        out, inp = source_node.outputs().get(out_port), target.inputs().get(port)
        if out is not None and inp is not None:
            out.connect_to(inp, push_undo=push_undo, emit_signal=False)

    # ---- graph → file

    def workflow_nodes(self) -> list[WorkflowNode]:
        return [
            n
            for n in self.graph.all_nodes()
            if isinstance(n, WorkflowNode) and n.get_property("workflow_type") not in (INPUTS_NODE, OUTPUTS_NODE)
        ]

    def to_spec(self) -> WorkflowFile:
        inputs_node = self.graph.get_node_by_name(INPUTS_NODE)
        outputs_node = self.graph.get_node_by_name(OUTPUTS_NODE)
        declared = inputs_node.params() if inputs_node else {}
        inputs = {
            name: PortSpec(type=inputs_node.port_type("out", name), desc=declared.get(name, {}).get("desc", ""))
            for name in (inputs_node.outputs() if inputs_node else {})
        }
        nodes: dict[str, NodeSpec] = {}
        for node in sorted(self.workflow_nodes(), key=lambda n: n.pos()[0]):
            type_id = (
                node.get_property("missing_type")
                if isinstance(node, MissingNode)
                else node.get_property("workflow_type")
            )
            nodes[node.name()] = NodeSpec(
                type=type_id, title=getattr(node, "title", ""), inputs=self._bindings(node), params=node.params()
            )
        outputs = self._bindings(outputs_node) if outputs_node else {}
        layout = {n.name(): [round(float(n.pos()[0]), 1), round(float(n.pos()[1]), 1)] for n in self.graph.all_nodes()}
        header = self.session.header
        return WorkflowFile(
            name=header["name"],
            description=header["description"],
            model=header["model"],
            inputs=inputs,
            outputs=outputs,
            nodes=nodes,
            layout=layout,
        )

    @staticmethod
    def _bindings(node: WorkflowNode) -> dict[str, str]:
        bindings = {}
        for name, port in node.inputs().items():
            connected = port.connected_ports()
            if connected:
                source = connected[0]
                source_node = source.node()
                prefix = "input" if source_node.name() == INPUTS_NODE else source_node.name()
                bindings[name] = f"{prefix}.{source.name()}"
        return bindings

    # ---- new nodes

    def initialise(self, node: WorkflowNode) -> None:
        """A node just dropped from the palette: default parameters, an identifier name, ports."""
        type_id = node.get_property("workflow_type")
        params = default_params(type_id, node.get_property("params"))
        if params is not None:
            node.set_property("params", json.dumps(params), push_undo=False)
        taken = {n.name() for n in self.graph.all_nodes() if n is not node}
        node.set_property("name", fresh_name(type_id, taken), push_undo=False)
        inputs, outputs = self.ports_of(type_id, node.params(), [])
        node.set_typed_ports(inputs, outputs)
