"""Group nodes of a workflow into a sub-workflow file (pure: specs in, specs out).

``group_nodes`` writes the sub-workflow and returns the parent with one ``prompts.workflow``
node in place of the group; ``plan_group`` adds what the editor needs to make that change
on its canvas as one undoable step (the new node, its place, the wires to draw)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .editing import OUTPUTS_NODE
from .schema import NodeSpec, PortSpec, WorkflowError, WorkflowFile, sibling


def group_nodes(spec: WorkflowFile, path: Path, names: list[str], group: str = "group") -> tuple[WorkflowFile, Path]:
    """Return (the parent workflow with ``names`` replaced by one ``prompts.workflow`` node,
    the path of the new sub-workflow file, already written)."""
    chosen = set(names)
    missing = chosen - set(spec.nodes)
    if missing:
        raise WorkflowError(f"no node {sorted(missing)[0]!r} to group")
    node_id, i = group, 1
    while node_id in spec.nodes and node_id not in chosen:
        i += 1
        node_id = f"{group}_{i}"
    sub_inputs: dict[str, PortSpec] = {}
    outer_bindings: dict[str, str] = {}
    sub_nodes: dict[str, NodeSpec] = {}
    for name in names:
        node = spec.nodes[name].model_copy(deep=True)
        for port, ref in node.inputs.items():
            source = ref.split(".", 1)[0]
            if source not in chosen:  # comes from outside the group: becomes an input of the sub-workflow
                inner = ref.replace(".", "_")
                sub_inputs.setdefault(inner, PortSpec())
                outer_bindings[inner] = ref
                node.inputs[port] = f"input.{inner}"
        sub_nodes[name] = node
    sub_outputs: dict[str, str] = {}

    def reroute(ref: str) -> str:
        source, _, port = ref.partition(".")
        if source in chosen:
            sub_outputs[f"{source}_{port}"] = ref
            return f"{node_id}.{source}_{port}"
        return ref

    parent_nodes: dict[str, NodeSpec] = {}
    for name, node in spec.nodes.items():
        if name in chosen:
            if node_id not in parent_nodes:
                parent_nodes[node_id] = NodeSpec(
                    type="prompts.workflow", title=f"group of {', '.join(names)}", inputs=outer_bindings, params={}
                )
            continue
        parent_nodes[name] = node.model_copy(update={"inputs": {p: reroute(r) for p, r in node.inputs.items()}})
    outputs = {name: reroute(ref) for name, ref in spec.outputs.items()}
    sub_path = sibling(path, node_id)
    sub = WorkflowFile(
        name=f"{spec.name}.{node_id}",
        description=f"grouped from {path.name}",
        model=spec.model,
        inputs=sub_inputs,
        outputs=sub_outputs,
        nodes=sub_nodes,
        layout={k: v for k, v in spec.layout.items() if k in chosen},
    )
    sub.save(sub_path)
    parent_nodes[node_id].params["path"] = sub_path.name
    xs = [spec.layout[n][0] for n in names if n in spec.layout]
    ys = [spec.layout[n][1] for n in names if n in spec.layout]
    layout = {k: v for k, v in spec.layout.items() if k not in chosen}
    if xs:
        layout[node_id] = [sum(xs) / len(xs), sum(ys) / len(ys)]
    parent = spec.model_copy(update={"nodes": parent_nodes, "outputs": outputs, "layout": layout})
    return parent, sub_path


@dataclass
class GroupPlan:
    """A grouping as the editor applies it: delete ``names``, add node ``node_id`` (``node``)
    at ``pos``, draw ``wires`` (``(source ref, target node, target port)``)."""

    spec: WorkflowFile  # the parent workflow after grouping
    sub_path: Path  # the sub-workflow file, already written
    names: list[str]
    node_id: str
    node: NodeSpec
    pos: list[float] | None  # None: where the first grouped node was
    wires: list[tuple[str, str, str]]


def plan_group(spec: WorkflowFile, path: Path, names: list[str]) -> GroupPlan:
    """Group ``names`` of ``spec`` (saved at ``path``): writes the sub-workflow file."""
    parent, sub_path = group_nodes(spec, path, names)
    ((node_id, node),) = [
        (k, n)
        for k, n in parent.nodes.items()
        if n.type == "prompts.workflow" and n.params.get("path") == sub_path.name
    ]
    wires = [(ref, node_id, port) for port, ref in node.inputs.items()]
    for name, other in parent.nodes.items():
        wires += [(ref, name, port) for port, ref in other.inputs.items() if ref.startswith(f"{node_id}.")]
    wires += [(ref, OUTPUTS_NODE, name) for name, ref in parent.outputs.items() if ref.startswith(f"{node_id}.")]
    return GroupPlan(parent, sub_path, list(names), node_id, node, parent.layout.get(node_id), wires)
