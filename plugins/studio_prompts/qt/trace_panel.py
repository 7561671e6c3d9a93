"""Traces panel: every span of a prompt run — tree, details, timeline, filters, totals.

Live runs appear as their spans stream in; the workspace's past prompt runs are listed in
the run selector (newest first, read when picked); any run folder or JSONL file of spans
opens with *Open…*. Runs the user deletes leave the selectors (``runs_deleted``).
*Compare* shows a second run side by side. Clicking a span
that belongs to a workflow node emits ``node_selected(node_id)`` (the workflow editor
highlights it); ``select_node(node_id)`` selects that node's spans here.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from studio.api import Event, Panel, PanelContext, RunStatus, Span, parse_event, read_events, read_records
from studio.widgets import tone

from ..trace_tree import ROOT
from .timeline import Timeline
from .token_view import TokenView
from .trace_model import SPAN_ID_ROLE, SpanFilter, SpanTreeModel

EXPAND_LIMIT = 3000  # spans: up to this many, a run opens with its nodes expanded
KINDS = ("", "workflow", "node", "module", "predictor", "llm", "load", "parse", "tool", "retriever")
#: span statuses: ok, error, cached, and a cancelled or (not yet ended) running span, named as runs are
STATUSES = ("", "ok", "error", "cached", RunStatus.CANCELLED, RunStatus.RUNNING)


def create(ctx: PanelContext) -> TracePanel:
    return TracePanel(ctx)


def read_spans(path: Path) -> list[dict[str, Any]]:
    """Span records from a run folder, its ``events.jsonl`` (span events), or a JSONL
    file of span records (a trace file a script wrote with a ``Collector``)."""
    path = Path(path)
    if path.is_dir() or path.name == "events.jsonl":
        return [event.record for event in read_events(path) if isinstance(event, Span)]
    spans = []
    for record in read_records(path):
        event = parse_event(record)  # a run log under another name holds span events
        if isinstance(event, Span):
            spans.append(event.record)
        elif "id" in record and "parent" in record:  # a trace file's span record
            spans.append(record)
    return spans


WHITESPACE_MARKS = {" ": "␠", "\t": "⇥", "\n": "↵\n", "\r": "␍"}
WHITESPACE_NAMES = {" ": "space", "\t": "tab", "\n": "newline", "\r": "carriage return"}


def blank_text(text: str) -> tuple[str, str] | None:
    """An empty or whitespace-only text made visible: (the text with a mark per character —
    ␠ space, ⇥ tab, ↵ newline —, a note naming what it holds). None for any other text."""
    if not text:
        return "", "(empty)"
    if text.strip():
        return None
    counts: dict[str, int] = {}
    for char in text:
        counts[char] = counts.get(char, 0) + 1
    parts = []
    for char, count in counts.items():
        name = WHITESPACE_NAMES.get(char, f"U+{ord(char):04X}")
        parts.append(f"{count} {name}{'s' if count > 1 and char in WHITESPACE_NAMES else ''}")
    marked = "".join(WHITESPACE_MARKS.get(char, "·") for char in text)
    return marked, f"(whitespace only: {', '.join(parts)})"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _intervention(value: Any) -> str:
    """A local model call's applied intervention: ``ablate L1H0 (zero) — /path/file.json``."""
    if isinstance(value, dict):
        return f"{value.get('summary', '?')} — {value.get('file', '?')}"
    return str(value)


def render_details(record: dict[str, Any]) -> str:
    """A span as HTML: messages by role, reply, fields, parameters and numbers. An empty or
    whitespace-only text is shown with a mark per character and a note, never as nothing."""
    esc = html.escape

    def block(title: str, value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
        blank = blank_text(text) if isinstance(value, str) else None
        if blank is not None:
            marked, note = blank
            shown = f"<pre style='white-space: pre-wrap'>{esc(marked)}</pre>" if marked else ""
            return f"<p><b>{esc(title)}</b> <i>{esc(note)}</i></p>{shown}"
        return f"<p><b>{esc(title)}</b></p><pre style='white-space: pre-wrap'>{esc(text)}</pre>"

    head = (
        f"<h3>{esc(str(record.get('name', '')))}</h3><p>{esc(str(record.get('kind', '')))} · "
        f"{esc(str(record.get('status', '')))}"
    )
    if record.get("duration") is not None:
        head += f" · {record['duration'] * 1000:.1f} ms"
    head += "</p>"
    parts = [head]
    if record.get("error"):
        parts.append(
            f"<p style='color:{tone('error').name()}'><b>Error</b></p><pre style='white-space: pre-wrap'>"
            f"{esc(str(record['error']))}</pre>"
        )
    shown = {
        "latency": _ms,
        "load_time": _ms,
        "generation_time": _ms,
        "cost": lambda v: f"${v:.6f}",
        "total_cost": lambda v: f"${v:.6f}",
        "intervention": _intervention,
    }
    facts = [
        (k, shown.get(k, str)(record[k]))
        for k in (
            "model",
            "latency",
            "load_time",
            "generation_time",
            "cache_hit",
            "attempts",
            "finish_reason",
            "intervention",
            "token_record",
            "token_note",
            "cost",
            "tokens",
            "total_tokens",
            "total_cost",
            "total_calls",
            "node_type",
        )
        if record.get(k) not in (None, "", {})
    ]
    if facts:
        parts.append(
            "<table>"
            + "".join(f"<tr><td><b>{esc(k)}</b>&nbsp;</td><td>{esc(v)}</td></tr>" for k, v in facts)
            + "</table>"
        )
    if record.get("params"):
        parts.append(block("Parameters", record["params"]))
    for message in record.get("messages") or []:
        parts.append(block(f"Message — {message.get('role', '?')}", message.get("content", "")))
    if record.get("reply") is not None:
        parts.append(block("Raw reply", record["reply"]))
    if record.get("inputs") is not None:
        parts.append(block("Inputs", record["inputs"]))
    if record.get("outputs") is not None:
        parts.append(block("Parsed outputs" if record.get("kind") == "parse" else "Outputs", record["outputs"]))
    if record.get("problems"):
        parts.append(block("Problems", record["problems"]))
    return "".join(parts)


def _prompts_kind(run_id: str) -> bool:
    """Whether ``run_id`` (``<date>-<time>-<kind>-<hex>``) is a run of the prompt engine."""
    parts = run_id.split("-")
    return len(parts) >= 4 and "-".join(parts[2:-1]).startswith("prompts.")


class TraceView(QWidget):
    """One run's spans: run chooser, filters, totals, tree / timeline, details."""

    span_selected = Signal(str)  # span id

    def __init__(self, panel: TracePanel):
        super().__init__()
        self.panel = panel
        self.run_id = ""
        self.run_box = QComboBox(objectName="run")
        self.run_box.currentIndexChanged.connect(lambda _i: self.show_run(self.run_box.currentData() or ""))
        self.kind_box = QComboBox(objectName="kind")
        self.kind_box.addItems([k or "any kind" for k in KINDS])
        self.status_box = QComboBox(objectName="status")
        self.status_box.addItems([s or "any status" for s in STATUSES])
        self.model_edit = QLineEdit(objectName="model", placeholderText="model")
        self.search = QLineEdit(
            objectName="search", placeholderText="search spans (text anywhere)", clearButtonEnabled=True
        )
        for box in (self.kind_box, self.status_box):
            box.currentIndexChanged.connect(self._apply_filters)
        for edit in (self.model_edit, self.search):
            edit.textChanged.connect(self._apply_filters)
        self.totals = QLabel(objectName="totals")
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.proxy = SpanFilter(self)
        self.tree = QTreeView(objectName="spans", uniformRowHeights=True, alternatingRowColors=True)
        self.tree.setModel(self.proxy)
        self.tree.selectionModel().currentChanged.connect(self._current_changed)
        self.timeline = Timeline()
        self.timeline.span_clicked.connect(self.select_span)
        self.views = QTabWidget()
        self.views.addTab(self.tree, "Tree")
        self.views.addTab(self.timeline, "Timeline")
        self.details = QTextBrowser(objectName="details", openExternalLinks=False)
        copy = QPushButton("Copy span as JSON", objectName="copy_json")
        copy.clicked.connect(self.copy_json)
        details = QWidget()
        rl = QVBoxLayout(details)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.details, 1)
        rl.addWidget(copy)
        # a model call's tokens: read from its record when this tab shows the span (token_view.py)
        self.tokens = TokenView(panel.ctx.open_path)
        self.right = QTabWidget(objectName="span_tabs")
        self.right.addTab(details, "Details")
        self.right.addTab(self.tokens, "Tokens")
        split = QSplitter()
        split.addWidget(self.views)
        split.addWidget(self.right)
        split.setSizes([520, 420])
        filters = QHBoxLayout()
        for widget in (self.run_box, self.kind_box, self.status_box, self.model_edit, self.search):
            filters.addWidget(widget)
        filters.setStretch(0, 2)
        filters.setStretch(4, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(filters)
        layout.addWidget(split, 1)
        layout.addWidget(self.totals)
        self.refresh_runs()

    # ---- runs

    def refresh_runs(self) -> None:
        """The runs to pick: traces opened from files (newest opened first), then the
        workspace's prompt runs, live or past, newest first; a past run is read when picked."""
        current = self.run_id
        self.run_box.blockSignals(True)
        self.run_box.clear()
        for run_id in self.panel.run_ids():
            self.run_box.addItem(run_id, run_id)
        index = self.run_box.findData(current)
        self.run_box.setCurrentIndex(index if index >= 0 else 0)
        self.run_box.blockSignals(False)
        if self.run_box.currentData() != current:
            self.show_run(self.run_box.currentData() or "")

    def show_run(self, run_id: str) -> None:
        if run_id != self.run_id:  # another run: no span of it is picked yet, so no tokens (not the last run's)
            self.details.clear()
            self.tokens.show_span(None, None)
        self.run_id = run_id
        model = self.panel.models.get(run_id)
        if model is None and self.isVisible():  # a hidden panel reads it when shown: not at the studio's start
            model = self.panel.load_past(run_id)
        self.proxy.setSourceModel(model)  # type: ignore[arg-type]  # None (no run shown) is Qt's "no model"
        # a hidden view (Compare's, while off) lays out its tree and timeline when shown:
        # for a 10,000-span run that is most of the time opening it takes
        self._layout_pending = model is not None and not self.isVisible()
        if model is not None and not self._layout_pending:
            self._lay_out()
        self.refresh()

    def _lay_out(self) -> None:
        self._layout_pending = False
        model = self.panel.models.get(self.run_id)
        # the nodes under each workflow, opened; a very large run (thousands of nodes) shows
        # its workflows' nodes closed: opening each costs more than the rest of the loading
        self.tree.expandToDepth(1 if model is None or len(model.tree) <= EXPAND_LIMIT else 0)
        for column, width in enumerate((260, 70, 70, 80, 60, 80, 160)):
            self.tree.setColumnWidth(column, width)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """The run picked while the panel was hidden is read (or laid out) now."""
        super().showEvent(event)
        if self.run_id and self.run_id not in self.panel.models and self.run_id not in self.panel.unreadable:
            self.show_run(self.run_id)
        elif getattr(self, "_layout_pending", False):
            self._lay_out()
            self.refresh()

    def refresh(self) -> None:
        model = self.panel.models.get(self.run_id)
        if model is not None and getattr(self, "_layout_pending", False):
            return  # hidden: refreshed when shown
        if model is None:
            problem = self.panel.unreadable.get(self.run_id)
            self.totals.setText(
                f"{self.run_id}: {problem}"
                if problem
                else "No trace yet: run a workflow, or Open… a run folder or trace file."
            )
            self.timeline.set_spans([])
            return
        t = model.tree.totals()
        self.totals.setText(
            f"{t['spans']:,} spans · {t['calls']} model calls · {t['tokens']:,} tokens · "
            f"${t['cost']:.4f} · {t['cached']} cached · {t['errors']} errors · {t['seconds']:.2f} s"
        )
        tree = model.tree
        depth: dict[str, int] = {}
        for span_id in tree.walk():
            parent = tree.nodes[span_id].parent
            depth[span_id] = depth.get(parent, -1) + 1
        self.timeline.set_spans([tree.record(s) for s in tree.walk()], depth.__getitem__)

    def _apply_filters(self) -> None:
        self.proxy.set_filters(
            KINDS[self.kind_box.currentIndex()],
            STATUSES[self.status_box.currentIndex()],
            self.model_edit.text().strip(),
            self.search.text().strip(),
        )
        if self.proxy.text or self.proxy.kind or self.proxy.status or self.proxy.model:
            self.tree.expandAll()

    # ---- selection

    def current_record(self) -> dict[str, Any] | None:
        index = self.tree.currentIndex()
        model = self.panel.models.get(self.run_id)
        if not index.isValid() or model is None:
            return None
        return model.tree.record(index.data(SPAN_ID_ROLE))

    def _current_changed(self, current, _previous) -> None:
        if not current.isValid():
            return
        span_id = current.data(SPAN_ID_ROLE)
        model = self.panel.models[self.run_id]
        record = model.tree.record(span_id)
        self.details.setHtml(render_details(record))
        self.tokens.show_span(record, self.panel.run_dir_of(self.run_id))
        self.timeline.selected = {span_id}
        self.timeline.viewport().update()
        self.span_selected.emit(span_id)

    def select_span(self, span_id: str) -> None:
        model = self.panel.models.get(self.run_id)
        if model is None or span_id not in model.tree:
            return
        index = self.proxy.mapFromSource(model.index_of(span_id))
        if index.isValid():
            self.tree.setCurrentIndex(index)
            self.tree.scrollTo(index)

    def select_spans(self, span_ids: list[str]) -> None:
        model = self.panel.models.get(self.run_id)
        if model is None or not span_ids:
            return
        selection = self.tree.selectionModel()
        selection.clearSelection()
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        for span_id in span_ids:
            index = self.proxy.mapFromSource(model.index_of(span_id))
            if index.isValid():
                selection.select(index, flags)
        first = self.proxy.mapFromSource(model.index_of(span_ids[0]))
        self.tree.scrollTo(first)
        self.details.setHtml(render_details(model.tree.record(span_ids[0])))
        self.tokens.show_span(model.tree.record(span_ids[0]), self.panel.run_dir_of(self.run_id))
        self.timeline.selected = set(span_ids)
        self.timeline.viewport().update()

    def copy_json(self) -> str:
        record = self.current_record()
        text = json.dumps(record, indent=2, ensure_ascii=False, default=str) if record else ""
        if text:
            QApplication.clipboard().setText(text)
        return text


class TracePanel(QWidget, Panel):
    node_selected = Signal(str)  # a workflow node id, when a span of that node is clicked

    def __init__(self, ctx: PanelContext):
        super().__init__()
        self.ctx = ctx
        self.setObjectName("prompts:traces:panel")
        self.models: dict[str, SpanTreeModel] = {}
        self.unreadable: dict[str, str] = {}  # a past run picked that holds no spans: why
        self.deleted: set[str] = set()  # runs the user deleted (a folder left half-removed stays unlisted)
        self.run_dirs: dict[str, Path] = {}  # traces opened from a file: the folder their token records are in
        open_button = QPushButton("Open…", objectName="open")
        open_button.clicked.connect(self._choose)
        self.compare = QCheckBox("Compare two runs", objectName="compare")
        self.compare.toggled.connect(self._toggle_compare)
        top = QHBoxLayout()
        top.addWidget(open_button)
        top.addWidget(self.compare)
        top.addStretch()
        self.view = TraceView(self)
        self.view.span_selected.connect(self._span_selected)
        self.other = TraceView(self)
        self.other.hide()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.view)
        split.addWidget(self.other)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        from . import links

        links.trace_panels.add(self)
        self.node_selected.connect(lambda node: [e.select_node(node) for e in links.alive(links.editors)])

    # ---- data in

    def handle_events(self, run_id: str, events: list[Event]) -> None:
        spans = [event.record for event in events if isinstance(event, Span)]
        if not spans:
            return
        model = self.models.get(run_id)
        if model is None:
            model = self.models[run_id] = SpanTreeModel(self)
            model.add_spans(spans)
            for view in (self.view, self.other):
                view.refresh_runs()
            self.view.run_box.setCurrentIndex(self.view.run_box.findData(run_id))
        else:
            model.add_spans(spans)
        for view in (self.view, self.other):
            if view.run_id == run_id:
                view.refresh()

    def past_runs(self) -> list[str]:
        """The workspace's prompt runs (kinds prompts.*) that have an event log, newest first
        (run ids start with their time)."""
        runs = Path(self.ctx.folders.runs)
        try:
            folders = list(runs.iterdir()) if runs.is_dir() else []
        except OSError:
            return []
        return sorted(
            (f.name for f in folders if _prompts_kind(f.name) and (f / "events.jsonl").is_file()), reverse=True
        )

    def run_ids(self) -> list[str]:
        """What the run selectors list: opened trace files (newest opened first), then runs
        (live here, or past in the workspace) newest first."""
        past = self.past_runs()
        runs = (set(past) | {r for r in self.models if _prompts_kind(r)}) - self.deleted
        opened = [r for r in reversed(list(self.models)) if r not in runs and r not in self.deleted]
        return opened + sorted(runs, reverse=True)

    def load_past(self, run_id: str) -> SpanTreeModel | None:
        """Read a past run's spans from its folder (when it is picked); None, and the reason
        kept in ``unreadable``, when it has none or cannot be read."""
        if not run_id or run_id in self.models:
            return self.models.get(run_id)
        try:
            spans = read_spans(self.ctx.folders.run_dir(run_id))
        except (OSError, ValueError) as exc:
            self.unreadable[run_id] = f"cannot be read ({exc})"
            return None
        if not spans:
            self.unreadable[run_id] = "this run recorded no spans"
            return None
        model = self.models[run_id] = SpanTreeModel(self)
        model.load(spans)
        return model

    def run_dir_of(self, run_id: str) -> Path | None:
        """The folder a run's spans name their token records from (``token_record``)."""
        if run_id in self.run_dirs:
            return self.run_dirs[run_id]
        try:
            return self.ctx.folders.run_dir(run_id)
        except ValueError:
            return None

    def runs_deleted(self, run_ids: list[str]) -> None:
        """The user deleted these runs: their traces leave the selectors (a view showing one
        shows the next run, or none)."""
        for run_id in run_ids:
            model = self.models.pop(run_id, None)
            self.unreadable.pop(run_id, None)
            if model is not None:
                for view in (self.view, self.other):
                    if view.proxy.sourceModel() is model:
                        view.proxy.setSourceModel(None)  # type: ignore[arg-type]  # Qt's "no model"
                        view.run_id = ""
                model.deleteLater()
        gone = set(run_ids)
        self.deleted |= gone
        for view in (self.view, self.other):
            if view.run_id in gone:
                view.run_id = ""
            view.refresh_runs()

    def workspace_changed(self, workspace: Path) -> None:
        """The selectors list the new workspace's runs."""
        for view in (self.view, self.other):
            view.refresh_runs()

    def open_path(self, path: Path) -> None:
        """Show the spans of a run folder or trace file, under the run folder's name (or the
        file's); ``ValueError`` if it holds none."""
        path = Path(path)
        spans = read_spans(path)
        if not spans:
            raise ValueError(f"{path} holds no spans")
        run_id = path.name if path.is_dir() else (path.parent.name if path.name == "events.jsonl" else path.stem)
        model = SpanTreeModel(self)
        model.load(spans)
        self.models[run_id] = model
        self.run_dirs[run_id] = path if path.is_dir() else path.parent
        for view in (self.view, self.other):
            if view.run_id == run_id:  # a run shown already (a past run, read again): the new model
                view.show_run(run_id)
            view.refresh_runs()
        self.view.run_box.setCurrentIndex(self.view.run_box.findData(run_id))

    def show_run(self, run_id: str) -> bool:
        """Show ``run_id``'s spans (read from its folder when they did not stream in here),
        its first failed span selected. False when the run has no spans."""
        if run_id not in self.models:
            try:
                self.open_path(self.ctx.folders.run_dir(run_id))
            except (OSError, ValueError):
                return False
        self.view.run_box.setCurrentIndex(self.view.run_box.findData(run_id))
        tree = self.models[run_id].tree

        def failed_child(span_id: str) -> str | None:
            return next((c for c in tree.children(span_id) if tree.record(c).get("status") == "error"), None)

        failed, target = failed_child(ROOT), None
        while failed is not None:  # down to the innermost failed span: it says what went wrong
            target, failed = failed, failed_child(failed)
        if target is not None:
            self.view.select_span(target)
        return True

    def _choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a run's events.jsonl or a trace file", str(self.ctx.folders.runs), "Traces (*.jsonl)"
        )
        if path:
            try:
                self.open_path(Path(path))
            except Exception as exc:
                self.ctx.show_message(f"Could not open {path}: {exc}", "error")

    def _toggle_compare(self, on: bool) -> None:
        self.other.setVisible(on)
        if on:
            self.other.refresh_runs()

    # ---- links with the workflow editor

    def _span_selected(self, span_id: str) -> None:
        model = self.models.get(self.view.run_id)
        node = model.tree.node_of_span(span_id) if model else None
        if node:
            self.node_selected.emit(node)

    def select_node(self, node_id: str) -> list[str]:
        model = self.models.get(self.view.run_id)
        spans = model.tree.spans_of_node(node_id) if model else []
        self.view.select_spans(spans)
        return spans

    # ---- state

    def save_state(self) -> dict[str, Any]:
        return {"compare": self.compare.isChecked()}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.compare.setChecked(bool(state.get("compare", False)))
