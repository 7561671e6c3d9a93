"""Canvas node classes, one per workflow node type, carrying typed ports.

NodeGraphQt needs a Python class per node type; they are made here from the node types
the plugins contribute (``studio_workflow_nodes``), so a third-party retriever appears in
the palette like a built-in. Ports carry a type string; only equal types (or ``any``)
may connect (``compatible``); which ports a node has is ``workflow/editing.py``'s
``ports_for``. A node whose type no plugin provides becomes a grey
``MissingNode`` placeholder that keeps its type and parameters for saving. A node's
header shows its title, and under it its id, kind and signature (``show_header``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ...workflow.editing import INPUTS_NODE, OUTPUTS_NODE
from .nodegraph import BaseNode

IDENTIFIER = "workflow"
COLORS = {
    "Predictors": (48, 98, 140),
    "Code": (60, 110, 70),
    "Structure": (110, 80, 130),
    "Retrieval": (140, 100, 40),
    "Workflow": (70, 70, 70),
}


class WorkflowNode(BaseNode):
    """A workflow node on the canvas. ``workflow_type`` and ``params`` (JSON) are node
    properties, so edits to them go through NodeGraphQt's undo stack."""

    __identifier__ = IDENTIFIER
    NODE_NAME = "Node"
    workflow_type = ""
    category = "General"

    def __init__(self):
        super().__init__()
        self.create_property("workflow_type", self.workflow_type)
        self.create_property("params", "{}")
        self.create_property("title", "")  # what the header says (the id when empty); saved in the file
        # port types live in a property too, so copy / paste and undo carry them with the node
        self.create_property("port_types", "{}")
        self.set_port_deletion_allowed(True)
        if self.category in COLORS:
            self.set_color(*COLORS[self.category])

    @property
    def title(self) -> str:
        return self.get_property("title") or ""

    @title.setter
    def title(self, text: str) -> None:
        self.set_property("title", text or "", push_undo=False)

    # ---- params

    def params(self) -> dict[str, Any]:
        try:
            return json.loads(self.get_property("params") or "{}")
        except ValueError:
            return {}

    # ---- ports

    def set_typed_ports(self, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]]) -> None:
        for port in list(self.input_ports()):
            self.delete_input(port)
        for port in list(self.output_ports()):
            self.delete_output(port)
        for name, _type in inputs:
            self.add_input(name, multi_input=False, display_name=True)
        for name, _type in outputs:
            self.add_output(name, multi_output=True, display_name=True)
        types = {**{f"in:{n}": t for n, t in inputs}, **{f"out:{n}": t for n, t in outputs}}
        self.set_property("port_types", json.dumps(types), push_undo=False)

    def port_type(self, direction: str, name: str) -> str:
        try:
            return json.loads(self.get_property("port_types") or "{}").get(f"{direction}:{name}", "any")
        except ValueError:
            return "any"


INTERNAL = "internal"  # canvas-only node classes, kept out of the palette


class InputsNode(WorkflowNode):
    __identifier__ = INTERNAL
    NODE_NAME = "Workflow inputs"
    workflow_type = INPUTS_NODE
    category = "Workflow"


class OutputsNode(WorkflowNode):
    __identifier__ = INTERNAL
    NODE_NAME = "Workflow outputs"
    workflow_type = OUTPUTS_NODE
    category = "Workflow"


class MissingNode(WorkflowNode):
    """A node whose plugin is missing or disabled: shown, kept, saved as it was; not runnable."""

    __identifier__ = INTERNAL
    NODE_NAME = "Missing plugin"
    workflow_type = "missing"

    def __init__(self):
        super().__init__()
        self.set_color(90, 90, 90)
        self.create_property("missing_type", "")


def node_class_name(type_id: str) -> str:
    return "T_" + re.sub(r"\W", "_", type_id)


def make_node_classes(node_types: list[Any]) -> dict[str, type[WorkflowNode]]:
    """One canvas class per workflow node type (built-in and from plugins), by type id."""
    classes: dict[str, type[WorkflowNode]] = {}
    for node_type in node_types:
        classes[node_type.id] = type(
            node_class_name(node_type.id),
            (WorkflowNode,),
            {
                "__identifier__": IDENTIFIER,
                "NODE_NAME": node_type.title,
                "workflow_type": node_type.id,
                "category": node_type.category,
                "__doc__": node_type.description,
            },
        )
    return classes


def compatible(out_type: str, in_type: str) -> bool:
    """Ports connect when their types are equal, or either side is ``any``."""
    out_type, in_type = (t.replace(" ", "").lower() for t in (out_type, in_type))
    return out_type == in_type or "any" in (out_type, in_type)


OUTPUT_PREVIEW_CHARS = 48


def show_output(node, text: str, rgb: tuple[int, int, int]) -> None:
    """A run's output (or error) on the canvas, one line under the node, so a run reads
    without hovering; the whole text stays in the tooltip. Not a property: it is not
    saved, and a re-created node (undo) starts without one."""
    from PySide6.QtGui import QBrush, QColor
    from PySide6.QtWidgets import QGraphicsSimpleTextItem

    label = getattr(node, "output_label", None)
    if label is None or label.parentItem() is not node.view:
        label = QGraphicsSimpleTextItem(node.view)
        node.output_label = label
    line = " ".join(text.split())
    label.setText(line if len(line) <= OUTPUT_PREVIEW_CHARS else line[: OUTPUT_PREVIEW_CHARS - 1] + "…")
    label.setBrush(QBrush(QColor(*[min(255, c + 90) for c in rgb])))
    label.setPos(4, node.view.boundingRect().height() + 2)


HEADER_SIGNATURE_CHARS = 40  # about this much of a signature fits the header; the tooltip has it whole


def header_lines(node) -> tuple[str, str]:
    """A node's header: its title (its id when it has none) and a line under it with the
    id (when the title is not it), the node's kind and its signature."""
    name = node.name()
    title = node.get_property("title") if node.has_property("title") else ""
    kind = type(node).NODE_NAME
    if isinstance(node, MissingNode):
        kind = f"{node.get_property('missing_type') or '?'} (not available)"
    if isinstance(node, (InputsNode, OutputsNode)):
        return title or kind, ""
    parts = [] if not title or title == name else [name]
    parts.append(kind)
    signature = signature_text(node.params())
    if signature:
        parts.append(signature)
    return title or name, " · ".join(parts)


def signature_text(params: dict[str, Any]) -> str:
    """A node's signature as one line (``question -> answer``), "" when it has none."""
    from ...signature import SignatureError, SignatureSpec

    if not any(key in params for key in ("signature", "inputs", "outputs")):
        return ""
    try:
        return str(SignatureSpec.from_dict(params))
    except (SignatureError, KeyError, TypeError, ValueError):
        return str(params.get("signature", ""))


def show_header(node) -> None:
    """Draw the node's header: its title in bold, and under it a smaller line with its id,
    kind and signature. The header is not edited in place (the inspector edits the title),
    so a double-click on it can never rename the node to the title's text."""
    import html

    title, subtitle = header_lines(node)
    view = node.view
    item = view.text_item
    item.set_locked(True)
    limit = HEADER_SIGNATURE_CHARS + 30  # the id and the kind, then the signature
    short = subtitle if len(subtitle) <= limit else subtitle[: limit - 1] + "…"
    item.setHtml(f"<b>{html.escape(title)}</b>" + (f"<br><small>{html.escape(short)}</small>" if short else ""))
    item.setToolTip(f"{title}\n{subtitle}" if subtitle else title)
    if view.scene() is not None:
        view.draw_node()  # the header's height and the node's width follow the text


CODE_RGB = (235, 200, 110)  # amber: this node runs Python code


def code_summary(type_id: str, params: dict[str, Any]) -> str:
    """The Python code a node names, as one line: ``calls os:system``, ``tools: a:b, c:d``."""
    if type_id == "prompts.python":
        return f"calls {params.get('function') or '(no function set)'}"
    if type_id == "prompts.react" and params.get("tools"):
        return "tools: " + ", ".join(str(tool) for tool in params["tools"])
    return ""


def show_code(node) -> None:
    """The code a function node (or a ReAct node's tools) names, written above the node, so
    what a workflow runs is seen on the canvas without selecting each node. Redrawn when the
    node's parameters change; not saved (it is read from the parameters)."""
    from PySide6.QtGui import QBrush, QColor
    from PySide6.QtWidgets import QGraphicsSimpleTextItem

    text = code_summary(node.get_property("workflow_type") or "", node.params())
    label = getattr(node, "code_label", None)
    if not text and (label is None or label.parentItem() is not node.view):
        return
    if label is None or label.parentItem() is not node.view:
        label = QGraphicsSimpleTextItem(node.view)
        label.setBrush(QBrush(QColor(*CODE_RGB)))
        node.code_label = label
    label.setText(text if len(text) <= OUTPUT_PREVIEW_CHARS else text[: OUTPUT_PREVIEW_CHARS - 1] + "…")
    label.setToolTip(text)
    label.setPos(4, -label.boundingRect().height() - 2)
