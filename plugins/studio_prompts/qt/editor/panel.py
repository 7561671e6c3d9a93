"""Workflow editor panel: palette, canvas, inspector; open, save, run, evaluate, optimize, export.

The canvas is NodeGraphQt (zoom, pan, select, move, copy / paste, delete, undo / redo, a
palette to drag nodes from); this module adds the workflow file model on top: typed ports
that refuse incompatible connections, an inspector for the selected node, autosave and
recovery, noticing the file change on disk, and runs whose node spans colour the nodes
(queued, running, done, failed, cached) with a preview of each output.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QFileSystemWatcher, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDialog, QDoubleSpinBox, QSpinBox, QTableWidget,
                               QTableWidgetItem, QFileDialog, QFormLayout, QLabel, QLineEdit,
                               QPlainTextEdit, QPushButton, QSplitter, QToolBar, QVBoxLayout, QWidget)

from studio.api import contributions

from ...signature import SignatureError, SignatureSpec, as_signature, write_signature
from ...workflow.schema import (SUFFIX, SUFFIXES, WorkflowError, WorkflowFile, parse_workflow_text, read_workflow_text,
                                workflow_suffix)
from .. import links
from .convert import WorkflowDocument
from .nodegraph import NodeGraph, NodesPaletteWidget
from .demos import DemosTable
from .dialogs import Choice, FilePath, FormDialog
from .nodes import (IDENTIFIER, OUTPUTS_NODE, InputsNode, MissingNode, OutputsNode, WorkflowNode, compatible,
                    make_node_classes, node_class_name, show_code, show_output)

PREDICTOR_KINDS = {"prompts.predict": "Predict", "prompts.chain_of_thought": "Chain of thought",
                   "prompts.react": "ReAct agent"}
STATE_COLORS = {"queued": (90, 90, 90), "running": (50, 100, 200), "ok": (50, 140, 70), "cached": (60, 150, 140),
                "error": (190, 55, 55), "cancelled": (170, 120, 40)}
AUTOSAVE_MS = 30_000
WORKFLOW_FILTER = f"Workflows ({' '.join('*' + s for s in SUFFIXES)})"
DATASET_FILTER = "Datasets (*.csv *.tsv *.json *.jsonl *.parquet);;All files (*)"
MODEL_FIELD, API_BASE_FIELD = "model (optional)", "API base URL (optional)"
# the CLI's --model / --api-base: a model for nodes without their own, and its server (Ollama, vLLM…)
MODEL_FIELDS = {MODEL_FIELD: "", API_BASE_FIELD: ""}


def create(ctx) -> "WorkflowEditor":
    return WorkflowEditor(ctx)


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
                self.refused.emit(f"{out_node.name()}.{out_view.name} ({out_type}) cannot connect to "
                                  f"{in_node.name()}.{in_view.name} ({in_type})")
        super()._on_connection_changed(disconnected, allowed)


class Inspector(QWidget):
    """Edits the selected node: signature, instructions, model and sampling, or raw params."""

    def __init__(self, editor: "WorkflowEditor"):
        super().__init__()
        self.editor = editor
        self.node: WorkflowNode | None = None
        self.title = QLabel("Select a node to edit it.", wordWrap=True)
        self.kind = QComboBox(objectName="kind")
        for type_id, title in PREDICTOR_KINDS.items():
            self.kind.addItem(title, type_id)
        self.signature = QLineEdit(objectName="signature", placeholderText="question, context: list[str] -> answer")
        self.instructions = QPlainTextEdit(objectName="instructions")
        self.model = QLineEdit(objectName="model", placeholderText="(the workflow's model)")
        self.fields = QTableWidget(0, 4, objectName="fields")
        self.fields.setHorizontalHeaderLabels(["", "field", "type", "description"])
        self.fields.horizontalHeader().setStretchLastSection(True)
        self.fields.verticalHeader().hide()
        self.signature.textEdited.connect(lambda _t: self._signature_edited())
        self.demos = DemosTable()
        self.demos.setToolTip("Few-shot examples, one per row. Apply takes the demos from here if you edited "
                              "them here, else from the JSON below")
        self._shown_demos: list[dict] = []
        self.temperature = QDoubleSpinBox(objectName="temperature", minimum=-0.1, maximum=2.0, singleStep=0.1,
                                          decimals=2, specialValueText="(model default)")
        self.max_tokens = QSpinBox(objectName="max_tokens", minimum=0, maximum=1_000_000, singleStep=64,
                                   specialValueText="(model default)")
        self.params = QPlainTextEdit(objectName="params")
        self.problem = QLabel(objectName="problem", wordWrap=True)
        self.problem.setStyleSheet("color: #c83c3c")
        self.apply = QPushButton("Apply (Ctrl+Enter)", objectName="apply")
        self.apply.clicked.connect(self.commit)
        form = QFormLayout()
        form.addRow("predictor", self.kind)
        form.addRow("signature", self.signature)
        form.addRow("field descriptions", self.fields)
        form.addRow("instructions", self.instructions)
        form.addRow("demos", self.demos)
        form.addRow("model", self.model)
        form.addRow("temperature", self.temperature)
        form.addRow("max tokens", self.max_tokens)
        form.addRow("all parameters (JSON)", self.params)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.apply)
        layout.addStretch()
        shortcut = QAction(self, shortcut=QKeySequence("Ctrl+Return"), triggered=self.commit)
        self.addAction(shortcut)
        self.show_node(None)

    def show_node(self, node: WorkflowNode | None) -> None:
        self.node = node
        self.problem.setText("")
        enabled = node is not None
        for widget in (self.signature, self.instructions, self.model, self.params, self.apply, self.fields,
                       self.temperature, self.max_tokens):
            widget.setEnabled(enabled)
        type_id = node.get_property("workflow_type") if node is not None else ""
        self.kind.setEnabled(type_id in PREDICTOR_KINDS)
        self.demos.setEnabled(type_id in PREDICTOR_KINDS)
        self.demos.set_demos([], [])
        self._shown_demos = []
        self.kind.setCurrentIndex(max(0, self.kind.findData(type_id)))
        if node is None:  # nothing selected, or another workflow opened: no stale text from the last node
            self.title.setText("Select a node to edit it.")
            for edit in (self.signature, self.instructions, self.model, self.params):
                edit.clear()
            self.fields.setRowCount(0)
            self.temperature.setValue(self.temperature.minimum())
            self.max_tokens.setValue(self.max_tokens.minimum())
            return
        type_id = node.get_property("missing_type") or node.get_property("workflow_type")
        params = node.params()
        self.title.setText(f"<b>{node.name()}</b> — {type_id}" + (" (its plugin is not installed: kept as it is, "
                                                                   "not runnable)" if isinstance(node, MissingNode) else ""))
        if isinstance(node, (InputsNode, OutputsNode)):
            names = node.outputs() if isinstance(node, InputsNode) else node.inputs()
            direction = "out" if isinstance(node, InputsNode) else "in"
            self.signature.setText(", ".join(n if node.port_type(direction, n) in ("str", "any") else
                                             f"{n}: {node.port_type(direction, n)}" for n in names))
            self.signature.setPlaceholderText("question, context: list[str]")
            self.fields.setRowCount(0)
        else:
            spec = self._spec(params)
            self.signature.setText(str(spec) if spec else params.get("signature", ""))
            self._fill_fields({(r, f.name): f.desc for r, fs in (("in", spec.inputs), ("out", spec.outputs))
                               for f in fs} if spec else {})
            if self.demos.isEnabled():
                self.demos.set_demos(self._field_types(), list(params.get("demos") or []))
                self._shown_demos = self.demos.demos()
        self.instructions.setPlainText(params.get("instructions", ""))
        config = params.get("config") or {}
        self.temperature.setValue(float(config.get("temperature", -0.1)))
        self.max_tokens.setValue(int(config.get("max_tokens", 0)))
        model = params.get("model")
        self.model.setText(model if isinstance(model, str) else (model or {}).get("model", ""))
        self.params.setPlainText(json.dumps(params, indent=2, ensure_ascii=False))

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
            spec = replace(spec, inputs=tuple(f._replace(desc=descs.get(("in", f.name), "")) for f in spec.inputs),
                           outputs=tuple(f._replace(desc=descs.get(("out", f.name), "")) for f in spec.outputs))
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
        for key, value, unset in (("temperature", self.temperature.value(), -0.1),
                                  ("max_tokens", self.max_tokens.value(), 0)):
            if abs(value - unset) > 1e-9:
                config[key] = value
            else:
                config.pop(key, None)
        if config or "config" in params:
            params["config"] = config
        kind = self.kind.currentData()
        if self.kind.isEnabled() and kind != node.get_property("workflow_type"):
            node = self.editor.set_kind(node, kind, params)
        else:
            self.editor.set_params(node, params)
        self.show_node(self.editor.graph.get_node_by_name(node.name()))
        return True


class WorkflowEditor(QWidget):
    def __init__(self, ctx):
        super().__init__()
        self.ctx = ctx
        self.setObjectName("prompts:editor:panel")
        self.node_types = {n.id: n for n in contributions("studio_workflow_nodes")}
        self.graph = StudioNodeGraph()
        self.classes = make_node_classes(list(self.node_types.values()))
        self.graph.register_nodes([InputsNode, OutputsNode, MissingNode, *self.classes.values()])
        self.doc = WorkflowDocument(self.graph, self.node_types)
        self.run_id = ""
        self.saved_index = 0
        self.recovery: Path | None = None
        self._loading = False

        self.palette = NodesPaletteWidget(node_graph=self.graph)
        self.palette.setObjectName("palette")
        self.palette.set_category_label("workflow", "Node types")
        tabs = self.palette.tab_widget()
        for i in range(tabs.count()):  # NodeGraphQt's own "Backdrop" tab is not a workflow node
            if tabs.tabText(i) != "Node types":
                tabs.setTabVisible(i, False)
            else:
                tabs.setCurrentIndex(i)
        self.inspector = Inspector(self)
        self.status = QLabel(objectName="status", wordWrap=True)
        toolbar = QToolBar()
        self.actions: dict[str, QAction] = {}
        for key, text, shortcut, slot in (
                ("new", "New", "Ctrl+N", self.new), ("open", "Open…", "Ctrl+O", self.choose_file),
                ("save", "Save", "Ctrl+S", self.save), ("save_as", "Save as…", "Ctrl+Shift+S", self.save_as),
                ("undo", "Undo", "Ctrl+Z", lambda: self.graph.undo_stack().undo()),
                ("redo", "Redo", "Ctrl+Shift+Z", lambda: self.graph.undo_stack().redo()),
                ("delete", "Delete", "Delete", self.delete_selected), ("copy", "Copy", "Ctrl+C", self.copy_selected),
                ("paste", "Paste", "Ctrl+V", self.paste), ("group", "Group", "Ctrl+G", self.group_selected),
                ("open_group", "Open sub-workflow", None, self.open_selected_subworkflow),
                ("fit", "Fit", "F", self.graph.fit_to_selection),
                ("run", "Run…", "Ctrl+Return", self.run_dialog), ("evaluate", "Evaluate…", None, self.evaluate_dialog),
                ("optimize", "Optimize…", None, self.optimize_dialog),
                ("export", "Export Python…", None, self.export_dialog)):
            action = QAction(text, self, triggered=slot)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
                action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            toolbar.addAction(action)
            self.actions[key] = action
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.palette)
        left.addWidget(self.inspector)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.graph.widget)
        split.setSizes([300, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(toolbar)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)

        self.graph.node_created.connect(self._node_created)
        self.graph.node_selection_changed.connect(self._selection_changed)
        self.graph.property_changed.connect(self._property_changed)
        self.graph.refused.connect(lambda text: self.say(f"Not connected: {text}", "warning"))
        self.graph.files_dropped.connect(self.files_dropped)
        self.graph.node_double_clicked.connect(lambda node: self.open_subworkflow(node))
        self.dataset = ""  # the last dataset dropped on the canvas: evaluate / optimize use it
        self.pending: dict[str, str] = {}  # run id → "eval" | "optimize": show the result when done
        self.result_views: list[QDialog] = []
        self.graph.undo_stack().indexChanged.connect(lambda _i: self._update_title())
        self.watcher = QFileSystemWatcher(self)
        self.watcher.fileChanged.connect(self._file_changed)
        self.autosave_timer = QTimer(self, interval=AUTOSAVE_MS, timeout=self.autosave)
        self.autosave_timer.start()
        links.editors.add(self)
        self.new()

    # ---- messages and state

    def say(self, text: str, level: str = "info") -> None:
        self.status.setText(text)
        if level in ("error", "warning"):
            self.ctx.show_message(text, level)

    @property
    def dirty(self) -> bool:
        return self.graph.undo_stack().index() != self.saved_index

    def _update_title(self) -> None:
        try:
            self._show_title()
        except RuntimeError:  # the canvas is being torn down (window closing)
            pass

    def _show_title(self) -> None:
        name = self.doc.path.name if self.doc.path else "untitled"
        self.setWindowTitle(f"{name}{' *' if self.dirty else ''}")
        self.status.setText(f"{name}{' — unsaved changes' if self.dirty else ''}")

    # ---- documents

    def new(self) -> None:
        self.load_spec(WorkflowFile(name="untitled", inputs={"question": {"type": "str"}},
                                    outputs={"answer": "predict.answer"},
                                    nodes={"predict": {"type": "prompts.predict", "inputs": {"question": "input.question"},
                                                       "params": {"signature": "question -> answer", "demos": []}}},
                                    layout={"inputs": [-320, 0], "predict": [0, 0], "outputs": [320, 0]}), None)

    def load_spec(self, spec: WorkflowFile, path: Path | None) -> None:
        self._loading = True
        try:
            self.doc.load(spec, path)
        finally:
            self._loading = False
        self.saved_index = self.graph.undo_stack().index()
        self._watch(path)
        self.inspector.show_node(None)
        self._update_title()

    def open_path(self, path: Path) -> None:
        """Open a workflow file; a bad file is reported and the current workflow stays."""
        path = Path(path)
        text, _data = read_workflow_text(path)  # the reader's messages: missing, a folder, binary…
        spec = parse_workflow_text(text, str(path))
        self.load_spec(spec, path)
        missing = [n.name() for n in self.doc.workflow_nodes() if isinstance(n, MissingNode)]
        if missing:
            self.say(f"{path.name}: nodes {', '.join(missing)} need a plugin that is not installed; they are kept "
                     "and shown grey, and the workflow cannot run until it is installed.", "warning")
        auto = self.autosave_path()
        if auto.exists() and auto.stat().st_mtime > path.stat().st_mtime \
                and auto.read_text(errors="replace") != text:
            self.recovery = auto
            self.say(f"Unsaved changes to {path.name} from an earlier session were recovered: use Recover to see "
                     f"them ({auto}).", "warning")
        self.graph.center_on()

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open workflow", str(self.ctx.workspace),
                                              WORKFLOW_FILTER + ";;JSON (*.json);;YAML (*.yaml *.yml)")
        if path:
            try:
                self.open_path(Path(path))
            except WorkflowError as exc:
                self.say(str(exc), "error")

    def save(self) -> bool:
        if self.doc.path is None:
            return self.save_as()
        return self.save_to(self.doc.path)

    def save_as(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self, "Save workflow", str(self.ctx.workspace / f"untitled{SUFFIX}"),
                                              WORKFLOW_FILTER)
        return self.save_to(Path(path)) if path else False

    def save_to(self, path: Path) -> bool:
        spec = self.doc.to_spec()
        if self.doc.header["name"] == "untitled":
            spec.name = self.doc.header["name"] = path.name.removesuffix(workflow_suffix(path) or SUFFIX)
        self._watch(None)  # our own write is not a change on disk
        spec.save(path)
        self.doc.path = path
        self._watch(path)
        self.saved_index = self.graph.undo_stack().index()
        self.autosave_path().unlink(missing_ok=True)
        self._update_title()
        return True

    def autosave_path(self) -> Path:
        stem = self.doc.path.name if self.doc.path else f"untitled{SUFFIX}"
        return self.ctx.workspace / "autosave" / stem

    def autosave(self) -> Path | None:
        """Write unsaved edits beside the workspace (never over the user's file)."""
        if not self.dirty:
            return None
        target = self.autosave_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        self.doc.to_spec().save(target)
        return target

    def recover(self) -> None:
        if self.recovery is None:
            return
        path = self.doc.path
        spec = parse_workflow_text(self.recovery.read_text(encoding="utf-8"), str(self.recovery))
        self.load_spec(spec, path)
        self.saved_index = -1  # recovered edits are unsaved until saved
        self.recovery = None
        self._update_title()

    def _file_changed(self, name: str) -> None:
        path = Path(name)
        if self.doc.path is None or path != self.doc.path or not path.exists():
            return
        if self.dirty:
            self.say(f"{path.name} changed on disk. Your unsaved edits are kept; save to overwrite, or reopen the "
                     "file to take the version on disk.", "warning")
            return
        try:
            self.load_spec(parse_workflow_text(read_workflow_text(path)[0], str(path)), path)
            self.say(f"{path.name} changed on disk and was reloaded.")
        except WorkflowError as exc:
            self.say(f"{path.name} changed on disk but cannot be read now ({exc}); the editor keeps its version.",
                     "warning")
        self._watch(path)  # editors that save by replacing the file end the old watch

    def _watch(self, path: Path | None) -> None:
        """Watch exactly ``path`` (or nothing) for changes made by other programs."""
        if self.watcher.files():
            self.watcher.removePaths(self.watcher.files())
        if path is not None:
            self.watcher.addPath(str(path))

    # ---- editing

    def _node_created(self, node) -> None:
        if self._loading or not isinstance(node, WorkflowNode) or isinstance(node, (InputsNode, OutputsNode)):
            return
        if not node.input_ports() and not node.output_ports():
            self.doc.initialise(node)

    def _property_changed(self, node, name: str, _value) -> None:
        if name in ("params", "workflow_type") and isinstance(node, WorkflowNode):
            show_code(node)  # a function node shows the callable it names

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

    def group_selected(self) -> Path | None:
        """Move the selected nodes into a new sub-workflow file beside this one and put a
        sub-workflow node in their place, wired as they were — one undoable step. The new
        file is written at once and stays on disk if the step is undone (nothing is deleted);
        this workflow is changed on the canvas and saved when the user saves."""
        from .grouping import group_nodes

        chosen = [n for n in self.graph.selected_nodes() if not isinstance(n, (InputsNode, OutputsNode))]
        names = [n.name() for n in chosen]
        path = self.ensure_saved() if names else None
        if not names or path is None:
            return None
        try:
            spec, sub_path = group_nodes(self.doc.to_spec(), path, names)
        except WorkflowError as exc:
            self.say(str(exc), "error")
            return None
        (group_id, group), = [(k, n) for k, n in spec.nodes.items()
                              if n.type == "prompts.workflow" and n.params.get("path") == sub_path.name]
        stack = self.graph.undo_stack()
        stack.beginMacro(f"group {', '.join(names)}")
        self.graph.delete_nodes(chosen)
        node = self._create(f"{IDENTIFIER}.{node_class_name(group.type)}", group_id,
                            spec.layout.get(group_id, chosen[0].pos()), json.dumps(group.params),
                            *self.doc.ports_of(group.type, group.params, list(group.inputs)))
        node.title = group.title
        for port, ref in group.inputs.items():
            self.doc.connect(ref, group_id, port, push_undo=True)
        for name, other in spec.nodes.items():
            for port, ref in other.inputs.items():
                if ref.startswith(f"{group_id}."):
                    self.doc.connect(ref, name, port, push_undo=True)
        for name, ref in spec.outputs.items():
            if ref.startswith(f"{group_id}."):
                self.doc.connect(ref, OUTPUTS_NODE, name, push_undo=True)
        stack.endMacro()
        self.say(f"Grouped {', '.join(names)} into {sub_path.name} (Ctrl+Z undoes it); double-click the node "
                 "to open it.")
        return sub_path

    def open_selected_subworkflow(self) -> None:
        nodes = self.graph.selected_nodes()
        if nodes:
            self.open_subworkflow(nodes[0])

    def open_subworkflow(self, node) -> None:
        if not isinstance(node, WorkflowNode) or node.get_property("workflow_type") != "prompts.workflow":
            return
        target = (self.doc.path.parent if self.doc.path else Path.cwd()) / node.params().get("path", "")
        if self.dirty and not self.save():
            return
        try:
            self.open_path(target)
        except WorkflowError as exc:
            self.say(str(exc), "error")

    def delete_selected(self) -> None:
        nodes = [n for n in self.graph.selected_nodes()
                 if not isinstance(n, (InputsNode, OutputsNode))]
        if nodes:
            self.graph.delete_nodes(nodes)

    def copy_selected(self) -> None:
        nodes = [n for n in self.graph.selected_nodes() if not isinstance(n, (InputsNode, OutputsNode))]
        if nodes:
            self.graph.copy_nodes(nodes)

    def paste(self) -> list:
        """Paste copied nodes (with their parameters and typed ports) under fresh names."""
        nodes = self.graph.paste_nodes() or []
        for node in nodes:
            if isinstance(node, WorkflowNode):
                show_code(node)
            if isinstance(node, WorkflowNode) and not node.name().isidentifier():
                base = re.sub(r"\W+", "_", node.name()).strip("_") or "node"
                node.set_property("name", base, push_undo=False)
        return nodes

    def files_dropped(self, paths: list[Path]) -> None:
        for path in paths:
            if workflow_suffix(path):
                try:
                    self.open_path(path)
                except WorkflowError as exc:
                    self.say(str(exc), "error")
                return
            if path.is_dir() or path.suffix.lower() in (".csv", ".tsv", ".json", ".jsonl", ".parquet"):
                self.dataset = str(path)
                self.say(f"Dataset {path.name} will be used by Evaluate and Optimize.")
                return
        self.say("Drop a dataset (CSV, JSON, JSONL, Parquet, a saved dataset folder) or a workflow file.", "warning")

    def set_params(self, node: WorkflowNode, params: dict[str, Any]) -> None:
        """Change a node's parameters as one undoable step; ports follow a new signature,
        and connections to ports that still exist (with compatible types) are kept."""
        type_id = node.get_property("workflow_type")
        inputs, outputs = self.doc.ports_of(type_id, params, list(node.inputs()))
        same_ports = ([(n, node.port_type("in", n)) for n in node.inputs()] == inputs
                      and [(n, node.port_type("out", n)) for n in node.outputs()] == outputs)
        stack = self.graph.undo_stack()
        stack.beginMacro(f"edit {node.name()}")
        node.set_property("params", json.dumps(params, ensure_ascii=False))
        if not same_ports:
            self._replace_ports(node, inputs, outputs)
        stack.endMacro()

    def set_kind(self, node: WorkflowNode, type_id: str, params: dict[str, Any]) -> WorkflowNode:
        """Turn a predictor into another kind (Predict ↔ Chain of thought ↔ ReAct) as one
        undoable step, keeping its name, parameters and the connections that still fit."""
        inputs, outputs = self.doc.ports_of(type_id, params, list(node.inputs()))
        stack = self.graph.undo_stack()
        stack.beginMacro(f"make {node.name()} a {PREDICTOR_KINDS.get(type_id, type_id)}")
        node.set_property("params", json.dumps(params, ensure_ascii=False))
        fresh = self._replace_ports(node, inputs, outputs, f"{IDENTIFIER}.{node_class_name(type_id)}")
        stack.endMacro()
        return fresh

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

    def _replace_ports(self, node: WorkflowNode, inputs, outputs, type_name: str | None = None) -> WorkflowNode:
        """Rebuild a node under the same name (optionally as another type): delete and
        re-create (both undoable), then reconnect what still fits."""
        wires_in = {name: [(p.node().name(), p.name()) for p in port.connected_ports()]
                    for name, port in node.inputs().items()}
        wires_out = {name: [(p.node().name(), p.name()) for p in port.connected_ports()]
                     for name, port in node.outputs().items()}
        name, pos, params = node.name(), node.pos(), node.get_property("params")
        type_name = type_name or node.type_
        self.graph.delete_node(node)
        fresh = self._create(type_name, name, pos, params, inputs, outputs)
        for port, sources in wires_in.items():
            for source_name, source_port in sources:
                source = self.graph.get_node_by_name(source_name)
                if port in fresh.inputs() and source is not None and source_port in source.outputs():
                    source.outputs()[source_port].connect_to(fresh.inputs()[port])
        for port, targets in wires_out.items():
            for target_name, target_port in targets:
                target = self.graph.get_node_by_name(target_name)
                if port in fresh.outputs() and target is not None and target_port in target.inputs():
                    fresh.outputs()[port].connect_to(target.inputs()[target_port])
        self.inspector.show_node(fresh)
        return fresh

    def set_io_ports(self, node: WorkflowNode, text: str) -> bool:
        """The workflow's inputs (or outputs), written like the left side of a signature."""
        try:
            fields = as_signature(f"{text} -> x").inputs if text.strip() else ()
        except SignatureError as exc:
            self.inspector.problem.setText(str(exc))
            return False
        ports = [(f.name, f.type) for f in fields]
        stack = self.graph.undo_stack()
        stack.beginMacro("edit workflow inputs" if isinstance(node, InputsNode) else "edit workflow outputs")
        if isinstance(node, InputsNode):
            self._replace_ports(node, [], ports)
        else:
            self._replace_ports(node, [(n, "any") for n, _ in ports], [])
        stack.endMacro()
        return True

    # ---- running

    def ensure_saved(self) -> Path | None:
        if self.doc.path is None or self.dirty:
            if not self.save():
                return None
        return self.doc.path

    def ready(self) -> Path | None:
        """Checks made before a Run / Evaluate / Optimize form is shown: every node's plugin is
        installed, the file is saved, and the Python code it names is agreed to (``consent``),
        so nobody types inputs for a run that would then be refused. The saved path, or None."""
        missing = [n.name() for n in self.doc.workflow_nodes() if isinstance(n, MissingNode)]
        if missing:
            self.say(f"Cannot run: nodes {', '.join(missing)} need a plugin that is not installed.", "error")
            return None
        path = self.ensure_saved()
        if path is None or self.consent(path) is None:
            return None
        return path

    def lacks_model(self, path: Path, model: str, dialog: str) -> bool:
        """True (and said) when no model reaches some predictor: the job would fail at its
        first call; the message says where a model is set instead."""
        from ...preflight import no_model_message
        from ...workflow import load_workflow

        if model.strip():
            return False
        try:
            workflow = load_workflow(path)  # imports nothing the file names
        except WorkflowError:
            return False  # consent() says what is wrong with the file
        problem = no_model_message(workflow, f"type one in the {dialog} dialog's model field (and its API base URL "
                                             "for a local server), or set the node's model in the inspector")
        if problem:
            self.say(f"Not started: {problem}", "error")
        return problem is not None

    def run(self, inputs: dict[str, Any], model: str = "", api_base: str = "") -> str | None:
        """Save if needed, start a ``prompts.run`` job, and colour nodes as its spans arrive."""
        missing = [n.name() for n in self.doc.workflow_nodes() if isinstance(n, MissingNode)]
        if missing:
            self.say(f"Cannot run: nodes {', '.join(missing)} need a plugin that is not installed.", "error")
            return None
        path = self.ensure_saved()
        if path is None or self.lacks_model(path, model, "Run"):
            return None
        trusted = self.consent(path)
        if trusted is None:
            return None
        run_id = self._submit("prompts.run", {"workflow": str(path), "inputs": inputs, "model": model,
                                              "api_base": api_base.strip(), "trusted": trusted})
        if run_id is None:
            return None
        self.run_id = run_id
        for node in self.doc.workflow_nodes():
            self._set_state(node, "queued", "")
        self.say(f"Running {path.name} (run {self.run_id})…")
        return self.run_id

    def handle_events(self, run_id: str, events: list[dict]) -> None:
        if run_id in self.pending:
            for event in events:
                if event.get("kind") == "status" and event.get("status") in ("succeeded", "failed", "cancelled"):
                    kind = self.pending.pop(run_id)
                    self.say(self.finished_text(run_id, kind, event))  # not "Evaluating…" any more
                    self.show_result(run_id, kind, event)
                    break
            return
        if run_id != self.run_id:
            return
        for event in events:
            if event.get("kind") == "span" and event.get("span_kind") == "node":
                node = self.graph.get_node_by_name(event.get("name", ""))
                if node is None:
                    continue
                status = event.get("status", "ok")
                if status == "ok" and event.get("total_calls") == 0 and "duration" in event \
                        and node.get_property("workflow_type") in ("prompts.predict", "prompts.chain_of_thought"):
                    status = "cached"
                preview = event.get("error") or json.dumps(event.get("outputs"), ensure_ascii=False,
                                                           default=str)[:400]
                self._set_state(node, status, preview if "duration" in event else "")
                if status == "error":
                    self.select_node(node.name())
                    self.say(f"Node {node.name()} failed: {event.get('error')}", "error")
            elif event.get("kind") == "status" and event.get("status") in ("succeeded", "failed", "cancelled"):
                self.say(f"Run {run_id}: {event['status']}" + (f" — {event.get('error')}" if event.get("error") else ""))

    def finished_text(self, run_id: str, kind: str, status: dict) -> str:
        """The status line when an evaluation or optimization ends: its score and errors, or
        why it failed, so the line never keeps saying it is running."""
        what = "Evaluation" if kind == "eval" else "Optimization"
        run_dir = self.ctx.workspace / "runs" / run_id
        try:
            summary = json.loads((run_dir / ("summary.json" if kind == "eval" else "report.json")).read_text())
        except (OSError, ValueError):
            summary = None
        if status.get("status") == "cancelled":
            return f"{what} cancelled (run {run_id})."
        if kind == "eval" and isinstance(summary, dict):  # also a failed one: errors do not hide the score
            score = summary.get("score")
            text = (f"{what} finished: score {score:.3f} over {summary.get('scored', 0)} of "
                    f"{summary.get('examples', 0)} examples" if score is not None
                    else f"{what} finished: no example was scored")
            errors = summary.get("errors") or 0
            return text + (f" ({errors} errored)" if errors else "") + f" (run {run_id})."
        if status.get("status") == "succeeded":
            saved = Path(summary["saved"]).name if isinstance(summary, dict) and summary.get("saved") else ""
            return f"{what} finished" + (f": saved as {saved}" if saved else "") + f" (run {run_id})."
        return f"{what} failed: {status.get('error') or 'see the run'} (run {run_id})."

    def _set_state(self, node: WorkflowNode, state: str, preview: str) -> None:
        # run state is not an edit: no undo entry, and the document stays saved
        node.set_property("color", (*STATE_COLORS.get(state, STATE_COLORS["ok"]), 255), push_undo=False)
        node.view.setToolTip(f"{node.name()}: {state}" + (f"\n{preview}" if preview else ""))
        node.run_state = state
        show_output(node, preview, STATE_COLORS.get(state, STATE_COLORS["ok"]))

    def _ask(self, title: str, fields: dict) -> dict[str, str] | None:
        dialog = FormDialog(self, title, fields)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.values()

    def run_dialog(self) -> None:
        if self.ready() is None:  # consent before the form, not after the user typed the inputs
            return
        spec = self.doc.to_spec()
        last = self.ctx.settings().get("last_inputs", {})
        answers = self._ask("Run workflow", {**{n: str(last.get(n, "")) for n in spec.inputs}, **MODEL_FIELDS})
        if answers is None:
            return
        model = answers.pop(MODEL_FIELD, "").strip()
        api_base = answers.pop(API_BASE_FIELD, "").strip()
        inputs = {}
        for name, raw in answers.items():
            try:
                inputs[name] = json.loads(raw) if raw.strip()[:1] in "[{" else raw
            except ValueError:
                inputs[name] = raw
        self.ctx.save_settings({**self.ctx.settings(), "last_inputs": inputs})
        self.run(inputs, model, api_base)

    def evaluate(self, data: str, metric: str = "exact_match", model: str = "", resume: str = "",
                 api_base: str = "") -> str | None:
        """Start an evaluation; ``resume`` (an earlier evaluation's run folder) keeps its
        scored examples and runs only the rest (its errored ones included)."""
        path = self.ensure_saved()
        if path is None:
            return None
        if not data.strip():
            self.say("Not started: choose a dataset file (CSV, JSON, JSONL, Parquet) to evaluate on.", "error")
            return None
        if self.lacks_model(path, model, "Evaluate"):
            return None
        trusted = self.consent(path, metric)
        if trusted is None:
            return None
        run_id = self._submit("prompts.eval", {"workflow": str(path), "data": data, "metric": metric, "model": model,
                                               "api_base": api_base.strip(), "resume": resume, "trusted": trusted})
        if run_id is None:
            return None
        self.pending[run_id] = "eval"
        self.say(f"Evaluating on {Path(data).name} (run {run_id}); progress in Jobs.")
        return run_id

    def optimize(self, data: str, optimizer: str = "bootstrap", metric: str = "exact_match",
                 max_calls: int | None = 200, model: str = "", api_base: str = "") -> str | None:
        path = self.ensure_saved()
        if path is None:
            return None
        if not data.strip():
            self.say("Not started: choose a dataset file (CSV, JSON, JSONL, Parquet) to optimize on.", "error")
            return None
        if self.lacks_model(path, model, "Optimize"):
            return None
        trusted = self.consent(path, metric)
        if trusted is None:
            return None
        run_id = self._submit("prompts.optimize", {"workflow": str(path), "data": data, "metric": metric,
                                                   "optimizer": optimizer, "max_calls": max_calls, "model": model,
                                                   "api_base": api_base.strip(), "trusted": trusted})
        if run_id is None:
            return None
        self.pending[run_id] = "optimize"
        self.say(f"Optimizing with {optimizer} (run {run_id}): the result is saved as a new file beside this one.")
        return run_id

    def consent(self, path: Path, metric: str = "") -> str | None:
        """The ``trusted`` fingerprint for a job on ``path`` (the metric typed in the form is
        the user's own choice). When the workflow names Python code not yet agreed to for
        this content, ``ask_trust`` names it; the answer is remembered (``consent.py``).
        None: not agreed, or the file cannot be read — said in the status line."""
        from ...workflow import load_workflow
        from ...workflow.trust import content_digest, fingerprint
        from .consent import remember, remembered

        try:
            workflow = load_workflow(path)  # imports nothing the file names
        except WorkflowError as exc:
            self.say(f"Not started: {exc}", "error")
            return None
        code = workflow.untrusted_code()
        digest = content_digest(workflow)
        if code and not remembered(self.ctx.settings(), digest):
            if not self.ask_trust(path, code):
                self.say(f"Not run: {path.name} names Python code or key-receiving servers "
                         f"({', '.join(r.ref for r in code)}) you did not agree to.", "warning")
                return None
            self.ctx.save_settings(remember(self.ctx.settings(), digest, path, code))
        return fingerprint(workflow, metric)

    def ask_trust(self, path: Path, code: list) -> bool:
        """A dialog naming each callable: Run or Cancel."""
        from .consent import TrustDialog

        return TrustDialog(self, path, code).ask()

    def _submit(self, kind: str, params: dict[str, Any]) -> str | None:
        """Start a job; invalid parameters or a full queue are said, not raised."""
        try:
            return self.ctx.submit_job(kind, params)
        except Exception as exc:  # noqa: BLE001 - whatever the shell refuses, the user reads why
            self.say(f"Not started: {exc}", "error")
            return None

    def evaluation_fields(self) -> dict:
        """The dataset (typed, browsed or dropped; the last one dropped on the canvas first)
        and the metric (a known one, or ``module:function``)."""
        from ...evaluate import METRICS

        return {"dataset file": FilePath(self.dataset, DATASET_FILTER), "metric": Choice(list(METRICS), "exact_match")}

    def evaluate_dialog(self) -> None:
        if self.ready() is None:  # consent before the form
            return
        answers = self._ask("Evaluate workflow", {**self.evaluation_fields(), **MODEL_FIELDS})
        if answers:
            self.evaluate(answers["dataset file"], answers["metric"], answers[MODEL_FIELD].strip(),
                          api_base=answers[API_BASE_FIELD])

    def optimize_dialog(self) -> None:
        from ...optimizers import OPTIMIZERS

        if self.ready() is None:  # consent before the form
            return
        answers = self._ask("Optimize workflow", {**self.evaluation_fields(),
                                                  "optimizer": Choice(list(OPTIMIZERS), "bootstrap"),
                                                  "max model calls": "200", **MODEL_FIELDS})
        if answers:
            try:
                max_calls = int(answers["max model calls"] or 0) or None
            except ValueError:
                self.say(f"Not started: max model calls must be a whole number, not {answers['max model calls']!r}",
                         "error")
                return
            self.optimize(answers["dataset file"], answers["optimizer"], answers["metric"], max_calls,
                          answers[MODEL_FIELD].strip(), answers[API_BASE_FIELD])

    def show_result(self, run_id: str, kind: str, status: dict) -> QDialog:
        """A window with an evaluation's scores table or an optimization's diff."""
        from .results import ResultView

        view = ResultView(self, self.ctx.workspace / "runs" / run_id, kind, status)
        self.result_views.append(view)
        view.show()
        return view

    def export_dialog(self) -> None:
        path = self.ensure_saved()
        if path is None:
            return
        target, _ = QFileDialog.getSaveFileName(self, "Export Python", str(path.with_name(path.name.removesuffix(
            workflow_suffix(path) or SUFFIX) + ".py")), "Python (*.py)")
        if target:
            from ...jobs import export

            try:
                # the save dialog asked before replacing a file
                self.say(f"Exported {export(str(path), target, force=True)}")
            except WorkflowError as exc:
                self.say(str(exc), "error")

    # ---- state

    def save_state(self) -> dict:
        self.autosave()
        return {"path": str(self.doc.path) if self.doc.path else ""}

    def restore_state(self, state: dict) -> None:
        path = Path(state.get("path") or "")
        if state.get("path") and path.exists():
            try:
                self.open_path(path)
            except WorkflowError as exc:
                self.say(str(exc), "warning")

    def workspace_changed(self) -> None:
        pass
