"""Workflow editor panel: palette, canvas, inspector; open, save, run, evaluate, optimize, export.

The canvas is NodeGraphQt (zoom, pan, select, move, copy / paste, delete, undo / redo, a
palette to drag nodes from); the workflow open on it — its file, unsaved edits, autosave
and recovery, a change on disk, the run whose node spans colour the nodes — is a
``WorkflowSession`` (``workflow/session.py``, no Qt). This module lays the widgets out and
forwards the user's actions; the edits of the canvas are ``editor/canvas.py``'s, the jobs
``editor/job_actions.py``'s, the inspector ``editor/inspector.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QFileSystemWatcher, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from studio.api import Event, Folders, Panel, PanelContext, StudioFileError, contributions
from studio.widgets import JobTracker

from ..samples import SampleError, copy_samples, sample_path
from ..workflow.schema import SUFFIX, SUFFIXES, WorkflowError, WorkflowFile
from ..workflow.session import WorkflowSession, untitled_workflow
from . import links
from .editor.banner import ErrorBanner
from .editor.canvas import CanvasEdits, StudioNodeGraph
from .editor.convert import WorkflowDocument
from .editor.inspector import Inspector
from .editor.job_actions import JobActions
from .editor.nodegraph import NodesPaletteWidget
from .editor.nodes import InputsNode, MissingNode, OutputsNode, WorkflowNode, make_node_classes

AUTOSAVE_MS = 30_000
SAVED_REVISION = -2  # see WorkflowEditor._revision (never an undo index, nor the session's "recovered" -1)
PROGRESS_WIDTH = 200  # pixels: the bar shares the status row
JOB_ACTIONS = ("run", "evaluate", "optimize")  # the toolbar actions that start a job
CANVAS_SHORTCUTS = ("run", "delete", "fit")  # keys the inspector uses otherwise: on the canvas and palette only
MIN_SIDE_WIDTH = 100  # pixels: palette and inspector, narrower by dragging the splitter (or collapsed)
MIN_CANVAS_WIDTH = 120
SIDE_SHARE = 32  # percent of the editor's width the palette and inspector get at first
WORKFLOW_FILTER = f"Workflows ({' '.join('*' + s for s in SUFFIXES)})"


def create(ctx: PanelContext) -> WorkflowEditor:
    return WorkflowEditor(ctx)


def open_sample(ctx: PanelContext) -> None:
    """*Open sample workflow* (home page, Tools menu): the sample, from the workspace's
    workflows folder (copied there again if it is not, under a free name if something else
    has its name: ``samples.sample_path``), in the editor. Where no copy can be made (the
    folder is read-only, or a file) the shipped sample opens unsaved, as a new workflow: Save
    asks where, so the studio's own file is never written."""
    try:
        sample = sample_path(ctx.folders)
    except SampleError as exc:
        ctx.show_message(str(exc), "warning")
        return
    if sample.path is not None:
        if ctx.open_path(sample.path) and sample.problem:
            ctx.show_message(f"{sample.problem}.", "warning")  # after open_path's own "edit this workflow"
        return
    editor = ctx.show_panel("prompts:editor")
    if not isinstance(editor, WorkflowEditor):
        ctx.show_message(f"Cannot open the sample workflow: {sample.problem}.", "warning")
        return
    try:
        editor.open_unsaved(sample.shipped)
    except WorkflowError as exc:
        editor.say(str(exc), "error")
        return
    editor.say(
        f"The sample workflow is open unsaved ({sample.problem}): Save as… keeps it where you choose.", "warning"
    )


def autosave_dir(folders: Folders, plugin_id: str) -> Path:
    """Unsaved edits go to the plugin's own folder of the workspace, never over the user's file."""
    return folders.plugin_dir(plugin_id, create=False) / "autosave"


class FixedHeightBody(QWidget):
    """A widget whose layout's height does not depend on its width, to its parents."""

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        return False


class WorkflowEditor(QWidget, Panel, CanvasEdits, JobActions):
    def __init__(self, ctx: PanelContext):
        super().__init__()
        self.ctx = ctx
        self.setObjectName("prompts:editor:panel")
        node_types = {n.id: n for n in contributions("studio_workflow_nodes")}
        self.graph = StudioNodeGraph()
        self.graph.register_nodes(
            [InputsNode, OutputsNode, MissingNode, *make_node_classes(list(node_types.values())).values()]
        )
        self.session = WorkflowSession(
            autosave_dir(ctx.folders, ctx.plugin_id),
            node_types,
            revision=self._revision,
            saved=lambda: self.graph.undo_stack().setClean(),
        )
        self.doc = WorkflowDocument(self.graph, self.session)
        self._loading = False
        self.result_views: list[QDialog] = []

        self.node_palette = NodesPaletteWidget(node_graph=self.graph)
        self.node_palette.setObjectName("palette")
        self.node_palette.set_category_label("workflow", "Node types")
        tabs = self.node_palette.tab_widget()
        for i in range(tabs.count()):  # NodeGraphQt's own "Backdrop" tab is not a workflow node
            if tabs.tabText(i) != "Node types":
                tabs.setTabVisible(i, False)
            else:
                tabs.setCurrentIndex(i)
        self.inspector = Inspector(self)
        self.status = QLabel(objectName="status", wordWrap=True)
        self.banner = ErrorBanner()  # a failed run is said here, never in a dialog that blocks
        self.banner.show_trace.connect(self.show_trace)
        self.progress = QProgressBar(objectName="progress", visible=False)
        self.progress.setMaximumWidth(PROGRESS_WIDTH)
        self.cancel_button = QPushButton("Cancel", objectName="cancel")
        toolbar = self._toolbar()
        # the job started here: its progress and Cancel on the status row; Run, Evaluate and
        # Optimize wait for it to end (a second one was queued silently)
        self.tracker = JobTracker(ctx, self, progress=self.progress, cancel=self.cancel_button, status=self.status)
        self.tracker.started.connect(lambda _run_id: self._jobs_changed())
        self.tracker.finished.connect(lambda _outcome: self._jobs_changed())
        # the canvas takes the free space; the palette and the inspector share the side, which
        # can be dragged narrower or collapsed; only the inspector scrolls (its own one scroll
        # area). The panel asks for little room (MIN_PANEL), so the shell's scroll area around
        # every panel never scrolls the editor: toolbar, canvas and inspector stay in place.
        self.node_palette.setMinimumSize(MIN_SIDE_WIDTH, 60)
        self.inspector.setMinimumSize(MIN_SIDE_WIDTH, 80)
        self.side = QSplitter(Qt.Orientation.Vertical, objectName="side")
        self.side.addWidget(self.node_palette)
        self.side.addWidget(self.inspector)
        self.side.setSizes([150, 450])
        self.side.setStretchFactor(1, 1)
        self.graph.widget.setMinimumSize(MIN_CANVAS_WIDTH, 100)
        self.splitter = QSplitter(objectName="editor_split")
        self.splitter.addWidget(self.side)
        self.splitter.addWidget(self.graph.widget)
        self.splitter.setCollapsible(0, True)
        self.splitter.setCollapsible(1, False)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self._split_sized = False  # the side's share is set once the editor has its width: resizeEvent
        # the rows in a body that never asks for a height for its width: word-wrapped labels
        # (status, banner) would make the shell's scroll area size the editor by its preferred
        # height, not by its minimum, and scroll toolbar, canvas and inspector together
        body = FixedHeightBody(self)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(toolbar)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.progress)
        status_row.addWidget(self.cancel_button)
        layout.addLayout(status_row)

        self.graph.node_created.connect(self._node_created)
        self.graph.node_selection_changed.connect(self._selection_changed)
        self.graph.property_changed.connect(self._property_changed)
        self.graph.refused.connect(lambda text: self.say(f"Not connected: {text}", "warning"))
        self.graph.files_dropped.connect(self.files_dropped)
        self.graph.node_double_clicked.connect(lambda node: self.open_subworkflow(node))
        self.graph.undo_stack().indexChanged.connect(lambda _i: self._update_title())
        self.watcher = QFileSystemWatcher(self)
        self.watcher.fileChanged.connect(self._file_changed)
        self.autosave_timer = QTimer(self, interval=AUTOSAVE_MS, timeout=self.autosave)
        self.autosave_timer.start()
        links.editors.add(self)
        self._copy_samples(ctx.folders)
        self.new()

    def _toolbar(self) -> QToolBar:
        toolbar = QToolBar(objectName="editor_toolbar")
        self.toolbar = toolbar
        self.toolbar_actions: dict[str, QAction] = {}
        for key, text, shortcut, slot in (
            ("run", "Run…", "Ctrl+Return", self.run_dialog),  # the most used first: in view at any width
            ("open", "Open…", "Ctrl+O", self.choose_file),
            ("save", "Save", "Ctrl+S", self.save),
            ("new", "New", "Ctrl+N", self.new),
            ("save_as", "Save as…", "Ctrl+Shift+S", self.save_as),
            ("fit", "Fit", "F", self.graph.fit_to_selection),
            ("undo", "Undo", "Ctrl+Z", lambda: self.graph.undo_stack().undo()),
            ("redo", "Redo", "Ctrl+Shift+Z", lambda: self.graph.undo_stack().redo()),
            ("evaluate", "Evaluate…", None, self.evaluate_dialog),
            ("optimize", "Optimize…", None, self.optimize_dialog),
            ("delete", "Delete", "Delete", self.delete_selected),
            ("copy", "Copy", "Ctrl+C", self.copy_selected),
            ("paste", "Paste", "Ctrl+V", self.paste),
            ("group", "Group", "Ctrl+G", self.group_selected),
            ("open_group", "Open sub-workflow", None, self.open_selected_subworkflow),
            ("export", "Export Python…", None, self.export_dialog),
        ):
            action = QAction(text, self, triggered=slot)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
                action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                if key not in CANVAS_SHORTCUTS:  # answers wherever the focus is in the editor
                    self.addAction(action)
            toolbar.addAction(action)
            self.toolbar_actions[key] = action
        # Run's Ctrl+Return, Delete and F answer on the canvas and the palette, not in the
        # inspector: there Ctrl+Return applies the edit (the same keys in both would be
        # ambiguous: neither fired), and Delete or F belong to its tables and text
        for key in CANVAS_SHORTCUTS:
            for widget in (self.graph.widget, self.node_palette):
                widget.addAction(self.toolbar_actions[key])
        return toolbar

    def event(self, event) -> bool:
        """The editor's own shortcuts win over the window's same keys (its Ctrl+N and Ctrl+O
        are File's New workspace and Open) while the focus is in the editor: Qt would find
        both and fire neither. A text field that takes the key (Ctrl+C, Ctrl+Z…) still
        gets it first: this is asked only when no widget under the focus claimed it."""
        if event.type() == QEvent.Type.ShortcutOverride:
            pressed = QKeySequence(event.keyCombination())
            for key, action in self.toolbar_actions.items():
                if (
                    key not in CANVAS_SHORTCUTS
                    and action.isEnabled()
                    and not action.shortcut().isEmpty()
                    and action.shortcut().matches(pressed) == QKeySequence.SequenceMatch.ExactMatch
                ):
                    event.accept()  # no shortcut fires for this key now, the window's neither
                    QTimer.singleShot(0, action.trigger)  # after the key's delivery: no dialog inside it
                    return True
        return super().event(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """At its first real width, the side gets SIDE_SHARE of it and the canvas the rest
        (a splitter's sizes set before it is shown are pixels, not shares)."""
        super().resizeEvent(event)
        width = self.splitter.width()
        if not self._split_sized and self.isVisible() and width > 2 * MIN_SIDE_WIDTH:
            self._split_sized = True
            side = max(MIN_SIDE_WIDTH, width * SIDE_SHARE // 100)
            self.splitter.setSizes([side, width - side])
            QTimer.singleShot(0, self.fit_all)  # a workflow opened while the editor was hidden

    def fit_all(self) -> None:
        """Frame every node (Fit with nothing selected), when nothing is selected."""
        try:
            if not self.graph.selected_nodes():
                self.graph.fit_to_selection()
        except RuntimeError:  # the canvas is being torn down (window closing)
            pass

    def _jobs_changed(self) -> None:
        """Run, Evaluate and Optimize are off while a job started here runs."""
        for key in JOB_ACTIONS:
            self.toolbar_actions[key].setEnabled(not self.tracker.busy)

    # ---- messages and state

    def say(self, text: str, level: str = "info") -> None:
        self.status.setText(text)
        if level in ("error", "warning"):
            self.ctx.show_message(text, level)

    @property
    def dirty(self) -> bool:
        return self.session.dirty

    @property
    def recovery(self) -> Path | None:
        return self.session.recovery

    @recovery.setter
    def recovery(self, path: Path | None) -> None:
        self.session.recovery = path

    @property
    def dataset(self) -> str:
        return self.session.dataset

    @dataset.setter
    def dataset(self, path: str) -> None:
        self.session.dataset = path

    def _revision(self) -> int:
        """The canvas's edits as the session counts them: ``SAVED_REVISION`` while the undo
        stack is at its clean index (the state last saved: undoing back to it is saved, and
        an edit made after undoing past it makes it unreachable), else the stack's index."""
        stack = self.graph.undo_stack()
        return SAVED_REVISION if stack.isClean() else stack.index()

    def _update_title(self) -> None:
        try:
            self.setWindowTitle(self.session.title())
            self.status.setText(self.session.status_text())
        except RuntimeError:  # the canvas is being torn down (window closing)
            pass

    # ---- files

    def new(self) -> None:
        self.load_spec(untitled_workflow(), None)

    def load_spec(self, spec: WorkflowFile, path: Path | None) -> None:
        self._loading = True
        try:
            self.doc.load(spec, path)
        finally:
            self._loading = False
        self.session.mark_saved()
        self._watch(path)
        self.inspector.show_node(None)
        self._update_title()
        lost = self.session.drawn(spec, self.doc.to_spec())  # none for a file the session checked
        if lost:
            self.say(f"{self.session.name}: the editor could not show {'; '.join(lost[:3])}: Save is refused.", "error")

    def open_path(self, path: Path) -> None:
        """Open a workflow file; a bad file is reported and the current workflow stays.
        A file that is not a workflow, or one the editor cannot show whole (a binding to
        an input or node that does not exist…: ``WorkflowSession.check``), raises
        WorkflowError, also said in the status line, and nothing is drawn or written."""
        path = Path(path)
        try:
            spec, text = self.session.read(path)  # the reader's messages: missing, a folder, binary, invalid…
        except WorkflowError as exc:
            self.status.setText(str(exc))  # the caller says it too: a message (the shell's, or say's)
            raise
        self.load_spec(spec, path)
        for message, level in self.session.opened(path, spec, text):
            self.say(message, level)
        self.graph.center_on()
        QTimer.singleShot(0, self.fit_all)  # once laid out: the nodes in view, not cut at the canvas' edge

    def open_unsaved(self, path: Path) -> None:
        """The workflow in ``path`` as a new, untitled one (Save asks where): for a file that
        must not be written, such as the sample the studio ships. WorkflowError as open_path."""
        spec, _text = self.session.read(Path(path))
        self.load_spec(spec, None)
        self.graph.center_on()
        QTimer.singleShot(0, self.fit_all)  # once laid out: the nodes in view, not cut at the canvas' edge

    def _open_reporting(self, path: Path) -> None:
        try:
            self.open_path(path)
        except WorkflowError as exc:
            self.say(str(exc), "error")

    def _workflows_folder(self) -> Path:
        """Where the file dialogs start: the workspace's workflows folder once there is one."""
        folder = self.ctx.folders.workflows
        return folder if folder.is_dir() else self.ctx.workspace

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open workflow",
            str(self._workflows_folder()),
            WORKFLOW_FILTER + ";;JSON (*.json);;YAML (*.yaml *.yml)",
        )
        if path:
            self._open_reporting(Path(path))

    def save(self) -> bool:
        if self.session.path is None:
            return self.save_as()
        return self.save_to(self.session.path)

    def save_as(self) -> bool:
        suggested = self._workflows_folder() / f"untitled{SUFFIX}"
        path, _ = QFileDialog.getSaveFileName(self, "Save workflow", str(suggested), WORKFLOW_FILTER)
        return self.save_to(Path(path)) if path else False

    def save_to(self, path: Path) -> bool:
        """Write the workflow to ``path``; False (and said) when it was not written: the
        canvas lacks part of the open file (``WorkflowSession.lost``), or the disk refused."""
        self._watch(None)  # our own write is not a change on disk
        try:
            self.session.save(self.doc.to_spec(), path)
        except StudioFileError as exc:  # WorkflowError included
            self._watch(self.session.path)
            self.say(str(exc), "error")
            return False
        self._watch(path)
        self._update_title()
        return True

    def ensure_saved(self) -> Path | None:
        if (self.session.path is None or self.dirty) and not self.save():
            return None
        return self.session.path

    def autosave(self) -> Path | None:
        """Write unsaved edits beside the workspace (never over the user's file)."""
        return self.session.autosave(self.doc.to_spec)

    def recover(self) -> None:
        spec = self.session.recovered_spec()
        if spec is None:
            return
        self.load_spec(spec, self.session.path)
        self.session.recovered()  # recovered edits are unsaved until saved
        self._update_title()

    def _file_changed(self, name: str) -> None:
        change = self.session.disk_change(Path(name))
        if change.reload is not None:
            self.load_spec(change.reload, self.session.path)
        if change.message:
            self.say(change.message, change.level)
        if change.rewatch:
            self._watch(self.session.path)

    def _watch(self, path: Path | None) -> None:
        """Watch exactly ``path`` (or nothing) for changes made by other programs."""
        if self.watcher.files():
            self.watcher.removePaths(self.watcher.files())
        if path is not None:
            self.watcher.addPath(str(path))

    def files_dropped(self, paths: list[Path]) -> None:
        kind, path = self.session.dropped(paths)
        if kind == "workflow" and path is not None:
            self._open_reporting(path)
        elif kind == "dataset" and path is not None:
            self.say(f"Dataset {path.name} will be used by Evaluate and Optimize.")
        else:
            self.say(
                "Drop a dataset (CSV, JSON, JSONL, Parquet, a saved dataset folder) or a workflow file.", "warning"
            )

    def open_selected_subworkflow(self) -> None:
        nodes = self.graph.selected_nodes()
        if nodes:
            self.open_subworkflow(nodes[0])

    def open_subworkflow(self, node) -> None:
        if not isinstance(node, WorkflowNode) or node.get_property("workflow_type") != "prompts.workflow":
            return
        target = self.session.subworkflow_path(node.params())
        if self.dirty and not self.save():
            return
        self._open_reporting(target)

    # ---- Panel

    def handle_events(self, run_id: str, events: list[Event]) -> None:
        """Node spans of the run shown colour its nodes; a failed node is selected and said
        in the status line and the banner — not in a dialog: a dialog would stop the user,
        and the run's end, until dismissed (the run's end goes to the studio's log)."""
        for state in self.session.run_events(run_id, events, self._type_of):
            self.paint_state(state)
            if state.state == "error":
                self.select_node(state.name)
                text = f"Node {state.name} failed: {state.error}"
                self.status.setText(text)
                self.banner.show_error(text, run_id)

    def show_trace(self, run_id: str) -> None:
        """Show the run's spans in the Traces panel, its failed span selected."""
        traces = self.ctx.show_panel("prompts:traces")
        if traces is not None and hasattr(traces, "show_run"):
            traces.show_run(run_id)

    def _type_of(self, name: str) -> str | None:
        node = self.graph.get_node_by_name(name)
        return node.get_property("workflow_type") if node is not None else None

    def save_state(self) -> dict[str, Any]:
        self.autosave()
        return {"path": str(self.session.path) if self.session.path else ""}

    def restore_state(self, state: dict[str, Any]) -> None:
        path = Path(state.get("path") or "")
        if state.get("path") and path.exists():
            try:
                self.open_path(path)
            except WorkflowError as exc:
                self.say(str(exc), "warning")

    def workspace_changed(self, workspace: Path) -> None:
        """The open workflow stays open; its unsaved edits now go to the new workspace,
        which gets the sample workflows if it is new."""
        self.session.autosave_dir = autosave_dir(Folders(workspace), self.ctx.plugin_id)
        self._copy_samples(Folders(workspace))

    def _copy_samples(self, folders: Folders) -> None:
        copied = copy_samples(folders, self.ctx.plugin_id)
        if copied:
            self.ctx.show_message(
                f"Sample workflows copied to {folders.workflows}: {', '.join(p.name for p in copied)}"
            )
