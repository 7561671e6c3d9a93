"""The inspector: edits the selected node's signature, instructions, demos, model and
sampling, or its raw parameters; the workflow's own inputs and outputs as a field list."""

from __future__ import annotations

import html
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.widgets import set_tone

from ...signature import SignatureError, SignatureSpec, as_signature, write_signature
from ...tokens import MAX_TOP_LOGPROBS
from ...workflow.graph import unavailable
from .demos import DemosTable
from .dialogs import model_picker
from .nodes import InputsNode, MissingNode, OutputsNode, WorkflowNode

if TYPE_CHECKING:
    from ..workflow_panel import WorkflowEditor

PREDICTOR_KINDS = {
    "prompts.predict": "Predict",
    "prompts.chain_of_thought": "Chain of thought",
    "prompts.react": "ReAct agent",
}


class Inspector(QWidget):
    """Edits the selected node: signature, instructions, model and sampling, or raw params."""

    def __init__(self, editor: WorkflowEditor):
        super().__init__()
        self.editor = editor
        self.node: WorkflowNode | None = None
        self.title = QLabel("Select a node to edit it.", wordWrap=True)
        self.kind = QComboBox(objectName="kind")
        for type_id, title in PREDICTOR_KINDS.items():
            self.kind.addItem(title, type_id)
        self.node_title = QLineEdit(objectName="title", placeholderText="(shows the node's id)")
        self.signature = QLineEdit(objectName="signature", placeholderText="question, context: list[str] -> answer")
        self.instructions = QPlainTextEdit(objectName="instructions")
        # any model string, or one of the workspace's models picked as studio/<run id>
        self.model = model_picker(editor.ctx, placeholder="(the workflow's model)")
        self.model.setObjectName("model")
        self.fields = QTableWidget(0, 4, objectName="fields")
        self.fields.setHorizontalHeaderLabels(["", "field", "type", "description"])
        self.fields.horizontalHeader().setStretchLastSection(True)
        self.fields.verticalHeader().hide()
        self.signature.textEdited.connect(lambda _t: self._signature_edited())
        self.demos = DemosTable()
        self.demos.setToolTip(
            "Few-shot examples, one per row. Apply takes the demos from here if you edited "
            "them here, else from the JSON below"
        )
        self._shown_demos: list[dict] = []
        self.temperature = QDoubleSpinBox(
            objectName="temperature",
            minimum=-0.1,
            maximum=2.0,
            singleStep=0.1,
            decimals=2,
            specialValueText="(model default)",
        )
        self.max_tokens = QSpinBox(
            objectName="max_tokens", minimum=0, maximum=1_000_000, singleStep=64, specialValueText="(model default)"
        )
        # litellm models send per-token probabilities only when asked (logprobs / top_logprobs);
        # local studio/ models record them always. 0: not asked
        self.top_logprobs = QSpinBox(
            objectName="top_logprobs", minimum=0, maximum=MAX_TOP_LOGPROBS, specialValueText="off"
        )
        self.top_logprobs.setToolTip(
            "Ask the model for each reply token's probability and its top-k alternatives, shown in "
            "Traces (logprobs / top_logprobs; OpenAI, vLLM, llama.cpp, Ollama…). Local studio/ models "
            "record them always"
        )
        # a saved intervention file a local studio/ model applies while it generates (intervention.py)
        self.intervention = QLineEdit(objectName="intervention", placeholderText="(none)", clearButtonEnabled=True)
        self.intervention.setToolTip(
            "An intervention file saved from the Inspector's Intervene view (head or layer ablations, "
            "a steering direction), applied while a local studio/ model generates; other models refuse it. "
            "Absolute, or relative to the workspace folder"
        )
        self.browse_intervention = QPushButton("Browse…", objectName="browse_intervention")
        self.browse_intervention.clicked.connect(self._browse_intervention)
        intervention_row = QWidget()
        row = QHBoxLayout(intervention_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.intervention, 1)
        row.addWidget(self.browse_intervention)
        self.params = QPlainTextEdit(objectName="params")
        self.problem = QLabel(objectName="problem", wordWrap=True)
        set_tone(self.problem, "error")  # readable in either theme, re-toned when it changes
        self.apply = QPushButton("Apply (Ctrl+Enter)", objectName="apply")
        self.apply.clicked.connect(self.commit)
        form = QFormLayout()
        # labels above their fields: the inspector shares the editor's side with the palette,
        # often narrower than a label and a field side by side (it scrolled sideways)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        form.addRow("title", self.node_title)
        form.addRow("predictor", self.kind)
        form.addRow("signature", self.signature)
        form.addRow("field descriptions", self.fields)
        form.addRow("instructions", self.instructions)
        form.addRow("demos", self.demos)
        form.addRow("model", self.model)
        form.addRow("temperature", self.temperature)
        form.addRow("max tokens", self.max_tokens)
        # short labels: the form's column is narrow at 1366×768 ("token probabilities (top-" was cut);
        # the long words are in the tooltips, and a label still too wide wraps
        logprobs_label = QLabel("logprobs (top-k)", objectName="top_logprobs_label", wordWrap=True)
        logprobs_label.setToolTip(
            "Token probabilities: for each reply token, its probability and the k likeliest "
            "alternatives (0: off). " + self.top_logprobs.toolTip()
        )
        form.addRow(logprobs_label, self.top_logprobs)
        form.addRow(QLabel("intervention (local models)", wordWrap=True), intervention_row)
        form.addRow("all parameters (JSON)", self.params)
        # the rows scroll when the panel is short, instead of being drawn over each other;
        # Apply stays in view below them
        rows = QWidget(objectName="inspector_rows")
        rows_layout = QVBoxLayout(rows)
        rows_layout.setContentsMargins(0, 0, 0, 0)
        rows_layout.addWidget(self.title)
        rows_layout.addLayout(form)
        rows_layout.addWidget(self.problem)
        rows_layout.addStretch()
        for tall, lines in ((self.instructions, 3), (self.params, 4), (self.fields, 3), (self.demos, 3)):
            tall.setMinimumHeight(tall.fontMetrics().lineSpacing() * (lines + 1) + 8)
        self.rows_area = QScrollArea(objectName="inspector_scroll", widgetResizable=True)
        self.rows_area.setFrameShape(QFrame.Shape.NoFrame)
        self.rows_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # it scrolls down only
        self.rows_area.setWidget(rows)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.rows_area, 1)
        layout.addWidget(self.apply)
        # Ctrl+Return applies only while the focus is in the inspector: on the canvas it runs the workflow
        shortcut = QAction(self, shortcut=QKeySequence("Ctrl+Return"), triggered=self.commit)
        shortcut.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(shortcut)
        self.show_node(None)

    def show_node(self, node: WorkflowNode | None) -> None:
        self.node = node
        self.problem.setText("")
        enabled = node is not None
        for widget in (
            self.signature,
            self.instructions,
            self.model,
            self.params,
            self.apply,
            self.fields,
            self.temperature,
            self.max_tokens,
            self.top_logprobs,
            self.intervention,
            self.browse_intervention,
        ):
            widget.setEnabled(enabled)
        type_id = node.get_property("workflow_type") if node is not None else ""
        self.node_title.setEnabled(enabled and not isinstance(node, (InputsNode, OutputsNode)))
        self.node_title.setText(node.title if node is not None else "")
        self.kind.setEnabled(type_id in PREDICTOR_KINDS)
        self.demos.setEnabled(type_id in PREDICTOR_KINDS)
        self.demos.set_demos([], [])
        self._shown_demos = []
        self.kind.setCurrentIndex(max(0, self.kind.findData(type_id)))
        if node is None:  # nothing selected, or another workflow opened: no stale text from the last node
            self.title.setText("Select a node to edit it.")
            for edit in (self.signature, self.instructions, self.model, self.params, self.intervention):
                edit.clear()
            self.fields.setRowCount(0)
            self.temperature.setValue(self.temperature.minimum())
            self.max_tokens.setValue(self.max_tokens.minimum())
            self.top_logprobs.setValue(0)
            return
        type_id = node.get_property("missing_type") or node.get_property("workflow_type")
        params = node.params()
        missing = f" ({unavailable(type_id)}: kept as it is, not runnable)" if isinstance(node, MissingNode) else ""
        self.title.setText(f"<b>{html.escape(node.name())}</b> — {html.escape(type_id + missing)}")
        if isinstance(node, (InputsNode, OutputsNode)):
            names = node.outputs() if isinstance(node, InputsNode) else node.inputs()
            direction = "out" if isinstance(node, InputsNode) else "in"
            self.signature.setText(
                ", ".join(
                    n if node.port_type(direction, n) in ("str", "any") else f"{n}: {node.port_type(direction, n)}"
                    for n in names
                )
            )
            self.signature.setPlaceholderText("question, context: list[str]")
            self.fields.setRowCount(0)
        else:
            spec = self._spec(params)
            self.signature.setText(str(spec) if spec else params.get("signature", ""))
            self._fill_fields(
                {(r, f.name): f.desc for r, fs in (("in", spec.inputs), ("out", spec.outputs)) for f in fs}
                if spec
                else {}
            )
            if self.demos.isEnabled():
                self.demos.set_demos(self._field_types(), list(params.get("demos") or []))
                self._shown_demos = self.demos.demos()
        self.instructions.setPlainText(params.get("instructions", ""))
        config = params.get("config") or {}
        self.temperature.setValue(float(config.get("temperature", -0.1)))
        self.max_tokens.setValue(int(config.get("max_tokens", 0)))
        self.top_logprobs.setValue(_top_logprobs(config))
        self.intervention.setText(str(config.get("intervention") or ""))
        model = params.get("model")
        self.model.setText(model if isinstance(model, str) else (model or {}).get("model", ""))
        self.params.setPlainText(json.dumps(params, indent=2, ensure_ascii=False))

    def _browse_intervention(self) -> None:
        """Pick an intervention file; one inside the workspace is kept relative to it."""
        from pathlib import Path

        from studio.api import active_workspace

        workspace = active_workspace()
        name, _ = QFileDialog.getOpenFileName(
            self, "Intervention file", str(workspace), "Intervention files (*.json);;All files (*)"
        )
        if name:
            path = Path(name)
            try:
                self.intervention.setText(str(path.resolve().relative_to(workspace.resolve())))
            except ValueError:
                self.intervention.setText(str(path))

    @staticmethod
    def _spec(params: dict[str, Any]) -> SignatureSpec | None:
        try:
            return SignatureSpec.from_dict(params)
        except (SignatureError, KeyError, TypeError, ValueError):
            return None

    def _field_types(self) -> list[tuple[str, str]]:
        """(name, type) of the signature line's fields, inputs then outputs."""
        try:
            spec = as_signature(self.signature.text())
        except SignatureError:
            return []
        return [(f.name, f.type) for f in (*spec.inputs, *spec.outputs)]

    def _signature_edited(self) -> None:
        self._fill_fields(self._descriptions())
        fields = self._field_types()
        if self.demos.isEnabled() and fields:
            self.demos.set_fields(fields)

    def _descriptions(self) -> dict[tuple[str, str], str]:
        out = {}
        for row in range(self.fields.rowCount()):
            role, name, desc = (self.fields.item(row, c) for c in (0, 1, 3))
            if role and name:
                out[("in" if role.text() == "in" else "out", name.text())] = desc.text() if desc else ""
        return out

    def _fill_fields(self, descs: dict[tuple[str, str], str]) -> None:
        """One row per field of the signature line; only the description is edited here."""
        try:
            spec = as_signature(self.signature.text())
        except SignatureError:
            return
        rows = [("in", f) for f in spec.inputs] + [("out", f) for f in spec.outputs]
        self.fields.setRowCount(len(rows))
        for i, (role, field) in enumerate(rows):
            for j, text in enumerate((role, field.name, field.type)):
                item = QTableWidgetItem(text)
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
                self.fields.setItem(i, j, item)
            self.fields.setItem(i, 3, QTableWidgetItem(descs.get((role, field.name), field.desc)))

    def commit(self) -> bool:
        node = self.node
        if node is None:
            return False
        try:
            params = json.loads(self.params.toPlainText() or "{}")
        except ValueError as exc:
            self.problem.setText(f"parameters are not valid JSON: {exc}")
            return False
        if isinstance(node, (InputsNode, OutputsNode)):
            return self.editor.set_io_ports(node, self.signature.text())
        if self.signature.text().strip() or any(k in params for k in ("signature", "inputs", "outputs")):
            try:
                spec = as_signature(self.signature.text())
            except SignatureError as exc:
                self.problem.setText(str(exc))
                return False
            descs = self._descriptions()
            spec = replace(
                spec,
                inputs=tuple(f._replace(desc=descs.get(("in", f.name), "")) for f in spec.inputs),
                outputs=tuple(f._replace(desc=descs.get(("out", f.name), "")) for f in spec.outputs),
            )
            write_signature(params, spec, instructions=False)  # the instructions box is written below
        if "instructions" in params or self.instructions.toPlainText():
            params["instructions"] = self.instructions.toPlainText()
        if self.demos.isEnabled() and self.demos.demos() != self._shown_demos:  # edited in the table: it wins;
            params["demos"] = self.demos.demos()  # else the JSON's demos stand (edited there or not at all)
        if self.model.text().strip():
            params["model"] = self.model.text().strip()
        else:
            params.pop("model", None)
        config = dict(params.get("config") or {})
        for key, value, unset in (
            ("temperature", self.temperature.value(), -0.1),
            ("max_tokens", self.max_tokens.value(), 0),
        ):
            if abs(value - unset) > 1e-9:
                config[key] = value
            else:
                config.pop(key, None)
        top = self.top_logprobs.value()
        if top != _top_logprobs(config):  # changed here: else the JSON's logprobs settings stand
            config.pop("logprobs", None)
            config.pop("top_logprobs", None)
            if top:
                config.update(logprobs=True, top_logprobs=top)
        applied = self.intervention.text().strip()
        if applied:
            config["intervention"] = applied
        else:
            config.pop("intervention", None)
        if config or "config" in params:
            params["config"] = config
        kind = self.kind.currentData()
        title = self.node_title.text().strip()
        if self.kind.isEnabled() and kind != node.get_property("workflow_type"):
            node = self.editor.set_kind(node, kind, params, title)
        else:
            self.editor.set_params(node, params, title)
        self.show_node(self.editor.graph.get_node_by_name(node.name()))
        return True


def _top_logprobs(config: dict[str, Any]) -> int:
    """The k a node's config asks for (0: none); at least 1 where it asks for logprobs alone."""
    if not config.get("logprobs") and not config.get("top_logprobs"):
        return 0
    try:
        return max(1, min(MAX_TOP_LOGPROBS, int(config.get("top_logprobs") or 1)))
    except (TypeError, ValueError):
        return 0
