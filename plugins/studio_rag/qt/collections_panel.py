"""RAG panel: collections, their sources and status, indexing progress, search, and a chunk
inspector that shows where a document was cut.

Indexing runs as a job (a worker process), followed by a JobTracker. Keyword search runs
here (SQLite only); vector and hybrid search embed the query in a helper process that
keeps the model loaded (``query_pool``: why not a job each time is measured there), so
this process never imports torch and the window never waits on a model. What the panel
shows is computed in ``browse`` (no Qt); this module puts it into widgets.
"""

from __future__ import annotations

import sqlite3
import subprocess
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from studio.api import JobOutcome, Panel, PanelContext
from studio.widgets import JobTracker

from .. import browse
from ..collection_files import DEFAULT_COLLECTION, collections_folder, list_collections
from ..doc_keys import doc_path
from ..query_pool import QueryEncoder
from ..sample import SAMPLE_COLLECTION
from ..search import MODES, Hit
from ..store import SQLiteStore, StoreError

CHUNK_COLOURS = ("#fff3c4", "#d7ecff")  # alternate chunks; overlaps show as the second colour
OUTLINE_COLOUR = "#ffd27f"  # the chunk of the chosen result
REASON, DOCUMENT = browse.SOURCE_COLUMNS.index("reason"), browse.SOURCE_COLUMNS.index("document")
REASON_WIDTH = 420  # pixels at most; the whole reason is in its tooltip
STATUS_COLOURS = dict(zip(browse.LEFT_OUT, ("#b9770e", "#c0392b"), strict=True))  # skipped, failed
POLL_MS = 20  # how often a pending vector search is looked at


def create(ctx: PanelContext) -> RagPanel:
    return RagPanel(ctx)


def build_sample(ctx: PanelContext) -> str:
    """Menu action: write the sample documents and index them into ``python-docs``; the run id."""
    params = browse.sample_index_params(ctx.data_dir, collections_folder(ctx.folders))
    run_id = ctx.submit_job("rag.index", params)
    ctx.show_message(
        f"Indexing the Python documentation into '{SAMPLE_COLLECTION}'; progress in Jobs "
        "(Refresh the RAG panel when it is done)."
    )
    return run_id


class RagPanel(QWidget, Panel):
    def __init__(self, ctx: PanelContext):
        super().__init__()
        self.ctx = ctx
        self.setObjectName("rag:panel")
        self.store: SQLiteStore | None = None
        self.hits: list[Hit] = []
        self.last_query = ""
        self.inspected: tuple[str, list[tuple[int, int]]] | None = None
        self.encoder = QueryEncoder()
        self._pending: tuple[Future, str, dict[str, Any]] | None = None
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.encoder.close)
        self.destroyed.connect(self.encoder.close)
        saved = ctx.settings()

        self.collections = QComboBox(objectName="collections", editable=True)
        self.collections.setToolTip("a collection of this workspace; type a new name to index into a new one")
        self.collections.currentTextChanged.connect(self.open_collection)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(lambda: self.refresh())
        self.index_button = QPushButton("Index folder…", objectName="index")
        self.index_button.clicked.connect(self._choose_folder)
        self.sample_button = QPushButton("Build sample collection", objectName="sample")
        self.sample_button.setToolTip("the Python standard library's documentation, offline (about a minute)")
        self.sample_button.clicked.connect(self.build_sample)
        self.progress = QProgressBar(objectName="progress", visible=False)
        self.cancel = QPushButton("Cancel", objectName="cancel")
        self.status = QLabel("", objectName="status", wordWrap=True)
        # one index at a time from the panel: a second one hid the first, and Cancel stopped both
        self.tracker = JobTracker(
            ctx,
            self,
            progress=self.progress,
            cancel=self.cancel,
            status=self.status,
            busy_disabled=(self.index_button, self.sample_button),
        )

        self.sources = QTableWidget(0, len(browse.SOURCE_COLUMNS), objectName="sources")
        self.sources.setHorizontalHeaderLabels(list(browse.SOURCE_COLUMNS))
        self.sources.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.sources.currentCellChanged.connect(lambda row, *_: self.inspect_document(row))

        self.query = QLineEdit(objectName="query", placeholderText="search the collection (Enter)")
        self.query.returnPressed.connect(self.search)
        self.mode = QComboBox(objectName="mode")
        self.mode.addItems(MODES)
        self.mode.setCurrentText(saved.get("mode", "hybrid"))
        self.k = QSpinBox(objectName="k", minimum=1, maximum=100, value=int(saved.get("k", 8)))
        self.results = QTableWidget(0, len(browse.RESULT_COLUMNS), objectName="results")
        self.results.setHorizontalHeaderLabels(list(browse.RESULT_COLUMNS))
        self.results.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.results.currentCellChanged.connect(lambda row, *_: self.show_hit(row))
        self.results.cellDoubleClicked.connect(lambda row, _col: self.open_hit(row))
        self.preview = QTextBrowser(objectName="preview")
        self.open_command = QLineEdit(
            saved.get("open_command", ""),
            objectName="open_command",
            placeholderText="open results with: the system default, or a command such as "
            "code -g {path}:{line}  or  gvim +{line} {path}",
        )
        self.open_command.editingFinished.connect(lambda: self._remember(open_command=self.open_command.text().strip()))
        self.inspector = QPlainTextEdit(objectName="inspector", readOnly=True)
        self.inspector_label = QLabel("Select a document or a result to see its chunks.", wordWrap=True)
        self._lay_out(refresh, self.index_button, self.sample_button)
        self.refresh(saved.get("collection", DEFAULT_COLLECTION))

    def _lay_out(self, *header_buttons: QPushButton) -> None:
        header = QHBoxLayout()
        header.addWidget(QLabel("Collection"))
        header.addWidget(self.collections, 1)
        for widget in header_buttons:
            header.addWidget(widget)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel)
        search_row = QHBoxLayout()
        search_row.addWidget(self.query, 1)
        search_row.addWidget(self.mode)
        search_row.addWidget(QLabel("k"))
        search_row.addWidget(self.k)
        search_page = QWidget()
        search_layout = QVBoxLayout(search_page)
        search_layout.addLayout(search_row)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.results)
        split.addWidget(self.preview)
        search_layout.addWidget(split, 1)
        search_layout.addWidget(self.open_command)
        inspector_page = QWidget()
        inspector_layout = QVBoxLayout(inspector_page)
        inspector_layout.addWidget(self.inspector_label)
        inspector_layout.addWidget(self.inspector, 1)
        self.tabs = QTabWidget(objectName="tabs")
        self.tabs.addTab(search_page, "Search")
        self.tabs.addTab(self.sources, "Sources")
        self.tabs.addTab(inspector_page, "Chunks")
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(progress_row)
        layout.addWidget(self.status)
        layout.addWidget(self.tabs, 1)

    @property
    def folder(self) -> Path:
        """The workspace's folder of named collections (as it is now: the workspace may change)."""
        return collections_folder(self.ctx.folders)

    def _remember(self, **values: Any) -> None:
        self.ctx.save_settings({**self.ctx.settings(), **values})

    # ---- collections and sources

    def refresh(self, select: str | None = None) -> None:
        current = select or self.collections.currentText() or DEFAULT_COLLECTION
        rows = list_collections(self.folder)
        self.collections.blockSignals(True)
        self.collections.clear()
        for row in rows:
            self.collections.addItem(row["name"])
        self.collections.setCurrentText(current)
        self.collections.blockSignals(False)
        self.open_collection(current)
        if not rows:
            self.status.setText(browse.NO_COLLECTION)

    def open_collection(self, name: str) -> None:
        if self.store is not None:
            self.store.close()
        self.sources.setRowCount(0)
        opened = browse.open_collection(name, self.folder)
        self.store = opened.store
        if opened.message is not None:
            self.status.setText(opened.message)
        if opened.rows is None:
            return
        self.sources.setRowCount(len(opened.rows))
        for i, row in enumerate(opened.rows):
            for j, text in enumerate(row.cells()):
                item = QTableWidgetItem(text)
                if j == 0 and row.status in STATUS_COLOURS:
                    item.setForeground(QColor(STATUS_COLOURS[row.status]))
                item.setToolTip(row.reason or (row.document if j == DOCUMENT else ""))
                self.sources.setItem(i, j, item)
        self.sources.resizeColumnsToContents()
        self.sources.setColumnWidth(REASON, min(self.sources.columnWidth(REASON), REASON_WIDTH))
        self._remember(collection=name)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Index a folder", str(Path.home()))
        if folder:
            self.index_folder(Path(folder))

    def _indexing(self) -> bool:
        """True (and said) while an index started here runs: a folder dropped meanwhile waits."""
        if self.tracker.busy:
            self.ctx.show_message("An index is being built: wait for it to end, or Cancel it, first.", "warning")
        return self.tracker.busy

    def index_folder(self, folder: Path) -> str | None:
        if self._indexing():
            return None
        name = self.collections.currentText().strip() or DEFAULT_COLLECTION
        try:
            params = browse.index_params(folder, name, self.folder)
        except (ValueError, StoreError) as exc:  # a folder name that is not UTF-8, a bad collection name
            self.status.setText(str(exc))
            return None
        return self.tracker.start(
            "rag.index", params, title=f"Indexing {folder.name} into '{name}'", on_done=self._indexed
        )

    def build_sample(self) -> str | None:
        if self._indexing():
            return None
        params = browse.sample_index_params(self.ctx.data_dir, self.folder)
        run_id = self.tracker.start(
            "rag.index",
            params,
            title=f"Indexing the Python documentation into '{SAMPLE_COLLECTION}'",
            on_done=self._indexed,
        )
        self.collections.setCurrentText(SAMPLE_COLLECTION)
        return run_id

    def _indexed(self, outcome: JobOutcome) -> None:
        """An indexing run ended: show the collection as it is now (and why, if it failed)."""
        self.refresh()
        if not outcome.succeeded:
            self.status.setText(f"Indexing {outcome.status}: {outcome.error or ''}")

    def open_path(self, path: Path) -> None:
        path = Path(path)
        if path.is_dir():
            self.index_folder(path)
        elif path.name.endswith(".rag.sqlite"):
            self.collections.setCurrentText(browse.collection_field(path, self.folder))

    def workspace_changed(self, workspace: Path) -> None:
        self.refresh()

    # ---- search

    def search(self) -> None:
        text = self.query.text().strip()
        if not text or self.store is None:
            self.status.setText("Choose a collection and type a query." if not self.store else "")
            return
        options = {"k": self.k.value(), "mode": self.mode.currentText()}
        self._remember(**options)
        if options["mode"] == "keyword":
            self._show(*browse.search(self.store, text, options), text)
            return
        meta = self.store.meta()
        first = "" if self.encoder.warm else " (loading the model the first time)"
        self.status.setText(f"Embedding the query…{first}")
        self._pending = (self.encoder.submit(meta["embedder"], meta.get("precision", "fp32"), text), text, options)
        QTimer.singleShot(POLL_MS, self._poll)

    def _poll(self) -> None:
        if self._pending is None:
            return
        future, text, options = self._pending
        if not future.done():
            QTimer.singleShot(POLL_MS, self._poll)
            return
        self._pending = None
        try:
            vector = future.result()
        except Exception as exc:  # whatever the helper raised (no model, it died): keyword search still works
            self.encoder.close()
            self.status.setText(f"Vector search failed ({type(exc).__name__}: {exc}); keyword search still works.")
            return
        if self.store is not None:
            self._show(*browse.search(self.store, text, options, vector), text)

    def wait_for_search(self, timeout_ms: int = 60000) -> None:
        """Block until a pending vector search is shown (tests and scripts)."""
        if self._pending is not None:
            self._pending[0].result(timeout=timeout_ms / 1000)
            self._poll()

    def _show(self, hits: list[Hit] | None, message: str, query: str) -> None:
        self.status.setText(message)
        if hits is None:  # the search failed; the last results stay
            return
        self.hits, self.last_query = hits, query
        self.results.setRowCount(len(hits))
        for i, hit in enumerate(hits):
            for j, value in enumerate(browse.result_cells(hit)):
                item = QTableWidgetItem(value)
                item.setToolTip(hit.path if j == 1 else value)
                self.results.setItem(i, j, item)
        self.results.resizeColumnsToContents()
        if hits:
            self.results.selectRow(0)
            self.show_hit(0)

    def show_hit(self, row: int) -> None:
        if not 0 <= row < len(self.hits):
            return
        hit = self.hits[row]
        self.preview.setHtml(browse.preview_html(hit, self.last_query))
        self.inspect(hit.path, hit.id)

    def open_hit(self, row: int) -> list[str] | None:
        """Open a result's file at its line with the configured command (``{path}``,
        ``{line}``, ``{page}``), or with the system's default application."""
        if not 0 <= row < len(self.hits):
            return None
        hit = self.hits[row]
        command = self.open_command.text().strip()
        if not command:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(doc_path(hit.path))))
            return None
        args = browse.open_command(command, hit)
        try:
            subprocess.Popen(args, start_new_session=True)
        except OSError as exc:
            self.status.setText(f"Could not run {args[0]!r}: {exc}")
        return args

    # ---- chunk inspector

    def inspect_document(self, row: int) -> None:
        item = self.sources.item(row, DOCUMENT)
        if item is not None:
            self.inspect(item.text())

    def inspect(self, path: str, chunk_id: int | None = None) -> None:
        """The document with its chunks shaded in turn (overlaps in the second colour) and
        ``chunk_id`` outlined (``browse.chunk_view``)."""
        if self.store is None:
            return
        try:
            chunks = self.store.chunks_of(path)
        except sqlite3.DatabaseError as exc:
            self.inspector_label.setText(f"{path}: the collection cannot be read ({exc})")
            return
        view = browse.chunk_view(path, chunks, chunk_id)
        self.inspector.setPlainText(view.text)
        selections = []
        for i, ((start, end), chunk) in enumerate(zip(view.spans, view.chunks, strict=True)):
            selection = QTextEdit.ExtraSelection()
            fmt = QTextCharFormat()
            fmt.setBackground(QColor(CHUNK_COLOURS[i % 2]))
            if chunk.id == chunk_id:
                fmt.setBackground(QColor(OUTLINE_COLOUR))
                fmt.setFontWeight(700)
            selection.format = fmt
            cursor = QTextCursor(self.inspector.document())
            cursor.setPosition(start)
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            selection.cursor = cursor
            selections.append(selection)
            if chunk.id == chunk_id:
                self.inspector.setTextCursor(QTextCursor(cursor.document().findBlock(start)))
                self.inspector.centerCursor()
        self.inspector.setExtraSelections(selections)
        self.inspector_label.setText(view.label)
        self.inspected = (path, view.spans)

    def save_state(self) -> dict[str, Any]:
        return {"tab": self.tabs.currentIndex()}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.tabs.setCurrentIndex(int(state.get("tab", 0)))
