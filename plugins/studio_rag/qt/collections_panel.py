"""RAG panel: collections, their sources and status, indexing progress, search, and a chunk
inspector that shows where a document was cut.

Indexing runs as a job (a worker process), followed by a JobTracker. Keyword search runs
here (SQLite only); vector and hybrid search embed the query in a helper process that
keeps the model loaded (``query_pool``: why not a job each time is measured there), so
this process never imports torch and the window never waits on a model. What the panel
shows is computed in ``browse`` (no Qt); this module puts it into widgets.

Colours come from the theme (``studio.widgets.tint`` / ``tone``), computed against the
palette in use and redrawn when it changes: the pastels once hard-coded here put the dark
theme's white text on light yellow.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QRect, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QPainter, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from studio.api import Event, JobOutcome, Panel, PanelContext, Progress
from studio.widgets import JobTracker, text_colour, tint, tone

from .. import browse
from ..collection_files import DEFAULT_COLLECTION, collection_path, collections_folder, list_collections
from ..doc_keys import doc_path
from ..query_pool import QueryEncoder
from ..sample import SAMPLE_COLLECTION
from ..search import MODES, Hit
from ..store import SQLiteStore, StoreError

CHUNK_TINTS = ("shade", "shade-alt")  # alternate chunks; overlaps show as the second one
CHOSEN_TINT, CHOSEN_STRENGTH = "chosen", 0.6  # the chunk of the chosen result: stronger, and bold
REASON, DOCUMENT = browse.SOURCE_COLUMNS.index("reason"), browse.SOURCE_COLUMNS.index("document")
REASON_WIDTH = 260  # pixels at most; the whole reason is in its tooltip
# the heading and source columns at most (pixels, and a share of the table's width), elided
# with the whole in the tooltip: the text column stretches over the rest
CAPPED = ((browse.RESULT_COLUMNS.index("heading"), 200, 0.3), (browse.RESULT_COLUMNS.index("source"), 160, 0.22))
TEXT = browse.RESULT_COLUMNS.index("text")
MIN_NAME_CHARS = 12  # the collection box's width in characters at least; wider when there is room
FULL_PATH = Qt.ItemDataRole.UserRole  # a Sources row's document: its key in the collection
STATUS_TONES = dict(zip(browse.LEFT_OUT, ("warning", "error"), strict=True))  # skipped, failed
RELEVANCE = browse.RESULT_COLUMNS.index("relevance")
FRACTION = Qt.ItemDataRole.UserRole  # a result's relevance (0 to 1), drawn as a bar under its text
POLL_MS = 20  # how often a pending vector search is looked at
SOURCES_MS = 300  # while indexing, the Sources tab is re-read at most this often
SOURCES_TAB = 1


def create(ctx: PanelContext) -> RagPanel:
    return RagPanel(ctx)


def build_sample(ctx: PanelContext) -> str | None:
    """Menu action and home-page button: show the RAG panel and build the sample collection
    there (its progress bar, Cancel and Sources tab follow it); the run id."""
    panel = ctx.show_panel("rag:panel")
    if isinstance(panel, RagPanel):
        run_id = panel.build_sample()
        if run_id is not None:
            panel.tabs.setCurrentIndex(SOURCES_TAB)
        return run_id
    params = browse.sample_index_params(ctx.data_dir, collections_folder(ctx.folders))  # no panel: a plain job
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
        self.inspected_chunk: int | None = None
        self.shown_hit = -1  # the row of the result in the preview
        self._recolouring = False
        self._indexing_into: Path | None = None  # the collection an index started here writes
        self._sources_timer = QTimer(self, singleShot=True, interval=SOURCES_MS)
        self._sources_timer.timeout.connect(self.show_indexed_so_far)
        self.encoder = QueryEncoder()
        self._pending: tuple[Future, str, dict[str, Any]] | None = None
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.encoder.close)
        self.destroyed.connect(self.encoder.close)
        saved = ctx.settings()

        self.collections = QComboBox(objectName="collections", editable=True)
        # sized to the room it has, not to its longest name (which pushed the panel past its dock)
        self.collections.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.collections.setMinimumContentsLength(MIN_NAME_CHARS)
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
        # Cancel beside the bar only while an index runs (idle, it was a wide disabled button)
        self.cancel.setVisible(False)
        self.tracker.started.connect(lambda _run_id: self.cancel.setVisible(True))
        self.tracker.finished.connect(lambda _outcome: self.cancel.setVisible(self.tracker.busy))

        self.sources = QTableWidget(0, len(browse.SOURCE_COLUMNS), objectName="sources")
        self.sources.setHorizontalHeaderLabels(list(browse.SOURCE_COLUMNS))
        self.sources.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.sources.setWordWrap(False)  # long reasons elide (whole in the tooltip)
        self.sources.horizontalHeader().setStretchLastSection(True)  # the document column fills the rest
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
        self.results.setItemDelegateForColumn(RELEVANCE, RelevanceDelegate(self.results))
        self.results.verticalHeader().setVisible(False)  # the rank is a column of its own
        self.results.setWordWrap(False)  # one line a result, elided: whole in the tooltip
        self.results.horizontalHeader().setSectionResizeMode(TEXT, QHeaderView.ResizeMode.Stretch)
        self.results.installEventFilter(self)  # resized with its dock: the capped columns follow
        self.mode_shown = "hybrid"  # the mode of the results shown (what their scores are)
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

    def _lay_out(self, refresh: QPushButton, *actions: QPushButton) -> None:
        # two rows: the three buttons beside the collection asked ~510 px, more than the
        # dock has on a 1366×768 screen, and the panel scrolled sideways
        header = QHBoxLayout()
        header.addWidget(QLabel("Collection"))
        header.addWidget(self.collections, 1)
        header.addWidget(refresh)
        actions_row = QHBoxLayout()
        for widget in actions:
            actions_row.addWidget(widget)
        actions_row.addStretch(1)
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
        layout.addLayout(actions_row)
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
        if rows and current not in {row["name"] for row in rows}:  # a remembered name that is gone (or the
            current = rows[0]["name"]  # default, never built): open a collection that exists
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
        self._fill_sources(opened.rows)
        self._remember(collection=name)

    def _fill_sources(self, rows: list[browse.SourceRow]) -> None:
        self.sources.setRowCount(len(rows))
        shown = relative_paths([row.document for row in rows])
        for i, row in enumerate(rows):
            for j, text in enumerate(row.cells()):
                item = QTableWidgetItem(shown[i] if j == DOCUMENT else text)
                if j == 0 and row.status in STATUS_TONES:
                    item.setForeground(tone(STATUS_TONES[row.status], self.palette()))
                item.setToolTip(row.reason or (row.document if j == DOCUMENT else ""))
                if j == DOCUMENT:
                    item.setData(FULL_PATH, row.document)
                self.sources.setItem(i, j, item)
        self.sources.resizeColumnsToContents()
        self.sources.setColumnWidth(REASON, min(self.sources.columnWidth(REASON), REASON_WIDTH))

    def _recolour_sources(self) -> None:
        for i in range(self.sources.rowCount()):
            item = self.sources.item(i, 0)
            if item is not None and item.text() in STATUS_TONES:
                item.setForeground(tone(STATUS_TONES[item.text()], self.palette()))

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
        return self._start_index(params, f"Indexing {folder.name} into '{name}'")

    def _start_index(self, params: dict[str, Any], title: str) -> str | None:
        run_id = self.tracker.start("rag.index", params, title=title, on_done=self._indexed, on_event=self._index_event)
        if run_id is not None:
            self._indexing_into = Path(params["collection"])
        return run_id

    def _index_event(self, event: Event) -> None:
        """A file indexed (or skipped) shows in the Sources tab as the job goes, not at its
        end: each progress report re-reads the collection, at most every ``SOURCES_MS``."""
        if isinstance(event, Progress) and event.total is not None and not self._sources_timer.isActive():
            self._sources_timer.start()

    def show_indexed_so_far(self) -> None:
        """Fill the Sources tab from the collection being written (read-only, beside the job)."""
        path = self._indexing_into
        if path is None or not self.tracker.busy or not path.exists():
            return
        try:
            if collection_path(self.collections.currentText().strip() or DEFAULT_COLLECTION, self.folder) != path:
                return  # the user is looking at another collection
            store = self.store if self.store is not None else SQLiteStore(path, read_only=True)
            try:
                rows = browse.source_rows(store.documents())
            finally:
                if store is not self.store:
                    store.close()
        except (StoreError, sqlite3.DatabaseError):  # not written far enough yet: the next report shows it
            return
        self._fill_sources(rows)

    def build_sample(self) -> str | None:
        if self._indexing():
            return None
        params = browse.sample_index_params(self.ctx.data_dir, self.folder)
        run_id = self._start_index(params, f"Indexing the Python documentation into '{SAMPLE_COLLECTION}'")
        self.collections.setCurrentText(SAMPLE_COLLECTION)
        return run_id

    def _indexed(self, outcome: JobOutcome) -> None:
        """An indexing run ended: show the collection as it is now (and why, if it failed)."""
        self._sources_timer.stop()
        self._indexing_into = None
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
            self._show(*browse.search(self.store, text, options), text, options["mode"])
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
            self._show(*browse.search(self.store, text, options, vector), text, options["mode"])

    def wait_for_search(self, timeout_ms: int = 60000) -> None:
        """Block until a pending vector search is shown (tests and scripts)."""
        if self._pending is not None:
            self._pending[0].result(timeout=timeout_ms / 1000)
            self._poll()

    def _show(self, hits: list[Hit] | None, message: str, query: str, mode: str) -> None:
        self.status.setText(message)
        if hits is None:  # the search failed; the last results stay
            return
        self.hits, self.last_query = hits, query
        self.results.setRowCount(len(hits))
        for i, (hit, fraction) in enumerate(zip(hits, browse.relevance(hits), strict=True)):
            for j, value in enumerate(browse.result_cells(hit, i + 1, fraction)):
                item = QTableWidgetItem(value)
                column = browse.RESULT_COLUMNS[j]
                if column in ("#", "relevance"):
                    item.setToolTip(browse.score_tip(hit, mode))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                else:
                    item.setToolTip(hit.path if column == "source" else value)
                if column == "relevance":
                    item.setData(FRACTION, fraction)
                self.results.setItem(i, j, item)
        self._fit_result_columns()
        if hits:
            self.results.selectRow(0)
            self.show_hit(0)

    def _fit_result_columns(self) -> None:
        """Columns as wide as their contents, the heading and source ones at most ``CAPPED``
        (elided, whole in the tooltip); the text column stretches over the rest."""
        self.results.resizeColumnsToContents()
        room = self.results.viewport().width()
        for column, most, share in CAPPED:  # a long heading pushed the text out of sight
            self.results.setColumnWidth(column, min(self.results.columnWidth(column), most, max(60, int(room * share))))

    def eventFilter(self, watched: Any, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self.results and event.type() == QEvent.Type.Resize and self.results.rowCount():
            QTimer.singleShot(0, self._fit_result_columns)  # once the viewport has its new width
        return super().eventFilter(watched, event)

    def show_hit(self, row: int) -> None:
        if not 0 <= row < len(self.hits):
            return
        hit = self.hits[row]
        self.shown_hit = row
        match = (tint("match", palette=self.palette()).name(), text_colour(self.palette()).name())
        self.preview.setHtml(browse.preview_html(hit, self.last_query, match))
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
            self.inspect(item.data(FULL_PATH) or item.text())

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
        palette = self.inspector.palette()
        shades = [tint(name, palette=palette) for name in CHUNK_TINTS]
        chosen = tint(CHOSEN_TINT, CHOSEN_STRENGTH, palette)
        text = text_colour(palette)
        for i, ((start, end), chunk) in enumerate(zip(view.spans, view.chunks, strict=True)):
            selection = QTextEdit.ExtraSelection()
            fmt = QTextCharFormat()
            fmt.setBackground(shades[i % 2])
            fmt.setForeground(text)  # the theme's text colour, which the tints are checked against
            if chunk.id == chunk_id:
                fmt.setBackground(chosen)
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
        self.inspected_chunk = chunk_id

    # ---- the theme

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        """The theme changed: redraw what is coloured with the palette's tints and tones."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and not self._recolouring:
            self._recolouring = True  # redrawing sets formats, never the palette; guarded all the same
            try:
                self._recolour_sources()
                if 0 <= self.shown_hit < len(self.hits):
                    self.show_hit(self.shown_hit)
                elif self.inspected is not None:
                    self.inspect(self.inspected[0], self.inspected_chunk)
            finally:
                self._recolouring = False

    def save_state(self) -> dict[str, Any]:
        return {"tab": self.tabs.currentIndex()}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.tabs.setCurrentIndex(int(state.get("tab", 0)))


def relative_paths(paths: list[str]) -> list[str]:
    """The documents as the Sources tab shows them: relative to the folder they were indexed
    from (the one all of them are in), ``sub/deep.rst`` rather than a full path that
    pushed the table sideways; a single file shows its name."""
    if not paths:
        return []
    try:
        common = os.path.commonpath(paths)
    except ValueError:  # relative and absolute paths mixed (not written by the indexer)
        return list(paths)
    if len(paths) == 1 or common in paths:  # a file's own path: its folder is the root
        common = os.path.dirname(common)
    return [os.path.relpath(path, common) if common else path for path in paths]


class RelevanceDelegate(QStyledItemDelegate):
    """The relevance cell: its text, and under it a bar as long as the result's share of
    the best score, in the theme's info colour (the selection's text colour when selected)."""

    BAR = 3  # pixels high

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().paint(painter, option, index)
        fraction = index.data(FRACTION)
        if not isinstance(fraction, float):
            return
        rect = option.rect.adjusted(3, 0, -3, -2)
        bar = QRect(rect.left(), rect.bottom() - self.BAR + 1, round(rect.width() * fraction), self.BAR)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        colour = palette.color(QPalette.ColorRole.HighlightedText) if selected else tone("info", palette)
        painter.fillRect(bar, colour)
