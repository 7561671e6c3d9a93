"""The rules of editing a workflow's nodes, without a canvas: the typed ports of each node,
the default parameters and names of new nodes, and which wires survive a change of ports.

The editor (``qt/workflow_panel.py``) draws nodes and asks these functions what to draw;
nothing here imports Qt or NodeGraphQt, so the rules are tested on plain data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..signature import SignatureError, SignatureSpec, as_signature
from .graph import PREDICTORS
from .schema import WorkflowError, read_workflow_file

Ports = list[tuple[str, str]]  # (name, type) of each port, in order
Wire = tuple[str, str, str, str]  # source node, its output port, target node, its input port
INPUTS_NODE, OUTPUTS_NODE = "inputs", "outputs"  # the workflow's own inputs and outputs, as nodes of the editor

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "prompts.predict": {"signature": "question -> answer", "instructions": "", "demos": [], "config": {}},
    "prompts.chain_of_thought": {"signature": "question -> answer", "instructions": "", "demos": [], "config": {}},
    "prompts.react": {"signature": "question -> answer", "tools": [], "max_steps": 5},
    "prompts.python": {"function": "", "outputs": ["result"]},
    "prompts.workflow": {"path": ""},
}


# ---- ports


def ports_for(
    type_id: str, params: dict[str, Any], node_type: Any = None, bound: list[str] | None = None
) -> tuple[Ports, Ports]:
    """(inputs, outputs) as (name, type) for a node of ``type_id`` with ``params``."""
    if type_id in PREDICTORS or type_id == "prompts.react":
        try:
            sig = SignatureSpec.from_dict(params)
        except (SignatureError, KeyError, TypeError, ValueError):
            return [(n, "any") for n in bound or []], [("error", "any")]
        outputs = [(f.name, f.type) for f in sig.outputs]
        if type_id != "prompts.predict" and "reasoning" not in sig.output_names:
            outputs.insert(0, ("reasoning", "str"))
        if type_id == "prompts.react":
            outputs.append(("trajectory", "list[str]"))
        return [(f.name, f.type) for f in sig.inputs], outputs
    if type_id == "prompts.python":
        return [(n, "any") for n in bound or []], [(n, "any") for n in params.get("outputs") or ["result"]]
    if node_type is not None and (node_type.inputs or node_type.outputs):
        return ([(p.name, p.type) for p in node_type.inputs], [(p.name, p.type) for p in node_type.outputs])
    return [(n, "any") for n in bound or []], []


def node_ports(
    type_id: str, params: dict[str, Any], bound: list[str], node_type: Any = None, base: Path | None = None
) -> tuple[Ports, Ports]:
    """A node's ports; a sub-workflow's are the inputs and outputs of the file it names
    (relative to ``base``, the folder of the workflow being edited, else the current one)."""
    if type_id == "prompts.workflow" and params.get("path"):
        try:
            sub = read_workflow_file((base or Path.cwd()) / params["path"])
            return [(n, p.type) for n, p in sub.inputs.items()], [(n, "any") for n in sub.outputs]
        except WorkflowError:
            pass
    return ports_for(type_id, params, node_type, bound)


def known_outputs(
    type_id: str, params: dict[str, Any], node_type: Any = None, base: Path | None = None
) -> list[str] | None:
    """The output ports a node has before it runs, as the editor draws them (at least those
    a run gives it); None where that is not known: a signature that does not parse, a
    sub-workflow whose file cannot be read, a plugin type that declares none (or is not
    installed: ``node_type`` None)."""
    if type_id in PREDICTORS or type_id == "prompts.react":
        try:
            SignatureSpec.from_dict(params)
        except (SignatureError, KeyError, TypeError, ValueError):
            return None
        return [name for name, _ in ports_for(type_id, params)[1]]
    if type_id == "prompts.python":
        return [name for name, _ in ports_for(type_id, params)[1]]
    if type_id == "prompts.workflow":
        try:
            return list(read_workflow_file((base or Path.cwd()) / params["path"]).outputs)
        except (WorkflowError, KeyError, TypeError, ValueError, OSError):
            return None
    if node_type is not None and node_type.outputs:
        return [p.name for p in node_type.outputs]
    return None


def io_ports(text: str) -> Ports:
    """The workflow's inputs (or outputs), written like the left side of a signature:
    ``question, context: list[str]``. Raises SignatureError."""
    fields = as_signature(f"{text} -> x").inputs if text.strip() else ()
    return [(f.name, f.type) for f in fields]


def same_ports(inputs: Ports, outputs: Ports, new_inputs: Ports, new_outputs: Ports) -> bool:
    return inputs == new_inputs and outputs == new_outputs


def kept_wires(
    name: str,
    wires_in: dict[str, list[tuple[str, str]]],
    wires_out: dict[str, list[tuple[str, str]]],
    inputs: Ports,
    outputs: Ports,
    ports_of: Callable[[str], tuple[Iterable[str], Iterable[str]] | None],
) -> list[Wire]:
    """The wires of node ``name`` to make again after its ports became ``inputs`` and
    ``outputs``: those whose port still exists on both ends. ``wires_in`` maps each input
    port to the (node, output port) feeding it, ``wires_out`` each output port to the
    (node, input port) it feeds; ``ports_of(node)`` is (input names, output names) of
    another node, or None if it is gone."""
    in_names, out_names = {n for n, _ in inputs}, {n for n, _ in outputs}
    wires: list[Wire] = []
    for port, sources in wires_in.items():
        for source, source_port in sources:
            other = ports_of(source)
            if port in in_names and other is not None and source_port in other[1]:
                wires.append((source, source_port, name, port))
    for port, targets in wires_out.items():
        for target, target_port in targets:
            other = ports_of(target)
            if port in out_names and other is not None and target_port in other[0]:
                wires.append((name, port, target, target_port))
    return wires


# ---- names


def fresh_name(type_id: str, taken: set[str]) -> str:
    """A new node's name: the last part of its type (``predict``), numbered when taken."""
    base = type_id.rsplit(".", 1)[-1]
    name, i = base, 1
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    return name


def identifier_name(name: str) -> str:
    """A pasted node's name as an identifier (``predict 1`` → ``predict_1``)."""
    if name.isidentifier():
        return name
    return re.sub(r"\W+", "_", name).strip("_") or "node"


def default_params(type_id: str, params_json: str) -> dict[str, Any] | None:
    """The parameters a node dropped from the palette starts with, or None to keep its own."""
    if params_json in ("", "{}") and type_id in DEFAULT_PARAMS:
        return DEFAULT_PARAMS[type_id]
    return None
