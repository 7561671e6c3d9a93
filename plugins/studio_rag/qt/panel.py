"""RAG panel: collections, their sources and status, indexing progress, search, and a chunk
inspector that shows where a document was cut.

Indexing runs as a job (a worker process). Keyword search runs here (SQLite only); vector
and hybrid search embed the query in a helper process that keeps the model loaded, so
this process never imports torch and the window never waits on a model.
"""

from __future__ import annotations

import html
import re
import sqlite3
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (QApplication, QComboBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit,
                               QProgressBar, QPushButton, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem,
                               QTabWidget, QTextBrowser, QTextEdit, QVBoxLayout, QWidget)

from ..collections import DEFAULT_COLLECTION, collection_path, list_collections
from ..paths import doc_key, doc_path, is_utf8
from ..search import MODES, Hit, Searcher
from ..store import SQLiteStore, StoreError

SAMPLE = "python-docs"
CHUNK_COLOURS = ("#fff3c4", "#d7ecff")  # alternate chunks; overlaps show as the second colour
INSPECT_CHUNKS = 400  # chunks the inspector shades at most (around the chosen one)
INSPECT_BYTES = 4_000_000  # a larger file is shown as its chunks' texts
SOURCE_COLUMNS = ("status", "chunks", "reason", "document")  # the reason in sight: a tooltip went unseen
REASON, DOCUMENT = SOURCE_COLUMNS.index("reason"), SOURCE_COLUMNS.index("document")
REASON_WIDTH = 420  # pixels at most; the whole reason is in its tooltip
STATUS_COLOURS = {"skipped": "#b9770e", "failed": "#c0392b"}


def create(ctx) -> "RagPanel":
    return RagPanel(ctx)


def build_sample(ctx) -> str:
    """Menu action: write the sample documents and index them into ``python-docs``; the run id."""
    from ..sample import write_sample_sources

    folder = write_sample_sources(ctx.workspace / "rag" / "sources" / SAMPLE)
    run_id = ctx.submit_job("rag.index", {"sources": [str(folder)],
                                          "collection": str(collection_path(SAMPLE, ctx.workspace))})
    ctx.show_message(f"Indexing the Python documentation into '{SAMPLE}'; progress in Jobs and the RAG panel.")
    return run_id


class QueryEncoder:
    """Embeds queries in one helper process that keeps the model loaded between searches."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None

    def submit(self, spec: str, precision: str, text: str) -> Future:
        if self.pool is None:
            import multiprocessing

            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        from ..searching import encode_query_in_worker

        return self.pool.submit(encode_query_in_worker, spec, precision, text)

    def close(self) -> None:
        if self.pool is not None:
            processes = list(getattr(self.pool, "_processes", {}).values())
            for process in processes:
                process.kill()  # a model load in progress must not hold up quitting
            self.pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.join(timeout=2)  # reaped, not left a zombie
            self.pool = None


class RagPanel(QWidget):
    def __init__(self, ctx):
        super().__init__()
        self.ctx = ctx
        self.setObjectName("rag:panel")
        self.jobs: set[str] = set()
        self.store: SQLiteStore | None = None
        self.hits: list[Hit] = []
        self.encoder = QueryEncoder()
        self._pending: tuple[Future, str, dict[str, Any]] | None = None
        QApplication.instance().aboutToQuit.connect(self.encoder.close)
        self.destroyed.connect(self.encoder.close)
        saved = ctx.settings()

        self.collections = QComboBox(objectName="collections", editable=True)
        self.collections.setToolTip("a collection of this workspace; type a new name to index into a new one")
        self.collections.currentTextChanged.connect(self.open_collection)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        index_button = QPushButton("Index folder…", objectName="index")
        index_button.clicked.connect(self._choose_folder)
        sample_button = QPushButton("Build sample collection", objectName="sample")
        sample_button.setToolTip("the Python standard library's documentation, offline (about a minute)")
        sample_button.clicked.connect(self.build_sample)
        self.progress = QProgressBar(objectName="progress", visible=False)
        self.status = QLabel("", objectName="status", wordWrap=True)

        self.sources = QTableWidget(0, len(SOURCE_COLUMNS), objectName="sources")
        self.sources.setHorizontalHeaderLabels(list(SOURCE_COLUMNS))
        self.sources.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.sources.currentCellChanged.connect(lambda row, *_: self.inspect_document(row))

        self.query = QLineEdit(objectName="query", placeholderText="search the collection (Enter)")
        self.query.returnPressed.connect(self.search)
        self.mode = QComboBox(objectName="mode")
        self.mode.addItems(MODES)
        self.mode.setCurrentText(saved.get("mode", "hybrid"))
        self.k = QSpinBox(objectName="k", minimum=1, maximum=100, value=int(saved.get("k", 8)))
        self.results = QTableWidget(0, 4, objectName="results")
        self.results.setHorizontalHeaderLabels(["score", "source", "heading", "text"])
        self.results.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.results.currentCellChanged.connect(lambda row, *_: self.show_hit(row))
        self.results.cellDoubleClicked.connect(lambda row, _col: self.open_hit(row))
        self.preview = QTextBrowser(objectName="preview")
        self.open_command = QLineEdit(saved.get("open_command", ""), objectName="open_command",
                                      placeholderText="open results with: the system default, or a command such as "
                                                      "code -g {path}:{line}  or  gvim +{line} {path}")
        self.open_command.editingFinished.connect(
            lambda: self.ctx.save_settings({**self.ctx.settings(), "open_command": self.open_command.text().strip()}))
        self.inspector = QPlainTextEdit(objectName="inspector", readOnly=True)
        self.inspector_label = QLabel("Select a document or a result to see its chunks.", wordWrap=True)

        header = QHBoxLayout()
        header.addWidget(QLabel("Collection"))
        header.addWidget(self.collections, 1)
        for widget in (refresh, index_button, sample_button):
            header.addWidget(widget)
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
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.tabs, 1)
        self.refresh(saved.get("collection", DEFAULT_COLLECTION))

    # ---- collections and sources

    def refresh(self, select: str | None = None) -> None:
        current = select or self.collections.currentText() or DEFAULT_COLLECTION
        rows = list_collections(self.ctx.workspace)
        self.collections.blockSignals(True)
        self.collections.clear()
        for row in rows:
            self.collections.addItem(row["name"])
        self.collections.setCurrentText(current)
        self.collections.blockSignals(False)
        self.open_collection(current)
        if not rows:
            self.status.setText("No collection yet: index a folder (or drop one on the window), or build the "
                                "sample collection of the Python documentation.")

    def open_collection(self, name: str) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
        self.sources.setRowCount(0)
        try:
            path = collection_path(name, self.ctx.workspace)
            if path.exists():
                self.store = SQLiteStore(path)
        except StoreError as exc:
            self.status.setText(str(exc))
            return
        if self.store is None:
            return
        try:
            docs = self.store.documents()
        except sqlite3.DatabaseError as exc:
            self.status.setText(f"{name}: cannot be read ({exc}); the file was left as it is")
            self.store.close()
            self.store = None
            return
        self.sources.setRowCount(len(docs))
        for i, (doc_path, doc) in enumerate(sorted(docs.items())):
            status = QTableWidgetItem(doc["status"])
            if doc["status"] in STATUS_COLOURS:
                status.setForeground(QColor(STATUS_COLOURS[doc["status"]]))
                status.setToolTip(doc["error"])
            self.sources.setItem(i, 0, status)
            self.sources.setItem(i, 1, QTableWidgetItem(str(doc["chunks"])))
            reason = QTableWidgetItem(doc["error"])
            reason.setToolTip(doc["error"])
            self.sources.setItem(i, REASON, reason)
            item = QTableWidgetItem(doc_path)
            item.setToolTip(doc["error"] or doc_path)
            self.sources.setItem(i, DOCUMENT, item)
        self.sources.resizeColumnsToContents()
        self.sources.setColumnWidth(REASON, min(self.sources.columnWidth(REASON), REASON_WIDTH))
        meta = self.store.meta()
        counts = {status: sum(d["status"] == status for d in docs.values()) for status in STATUS_COLOURS}
        left_out = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        self.status.setText(f"{name}: {len(docs) - sum(counts.values())} documents, {self.store.count()} chunks"
                            + (f", {left_out} (see Sources)" if left_out else "")
                            + f" · embedder {meta.get('embedder')} ({meta.get('precision', 'fp32')})")
        self.ctx.save_settings({**self.ctx.settings(), "collection": name})

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Index a folder", str(Path.home()))
        if folder:
            self.index_folder(Path(folder))

    def index_folder(self, folder: Path) -> str | None:
        name = self.collections.currentText().strip() or DEFAULT_COLLECTION
        if not is_utf8(str(folder)):  # the job's parameters are JSON: UTF-8 only
            self.status.setText(f"{doc_key(folder)}: the folder's name is not valid UTF-8; rename it to index it.")
            return None
        run_id = self.ctx.submit_job("rag.index", {"sources": [str(folder)],
                                                   "collection": str(collection_path(name, self.ctx.workspace))})
        self._follow(run_id)
        self.status.setText(f"Indexing {folder} into '{name}' (run {run_id})…")
        return run_id

    def build_sample(self) -> str:
        run_id = build_sample(self.ctx)
        self._follow(run_id)
        self.collections.setCurrentText(SAMPLE)
        return run_id

    def _follow(self, run_id: str) -> None:
        """Show this indexing run's progress here (busy until its first file is done)."""
        self.jobs.add(run_id)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)

    def open_path(self, path: Path) -> None:
        path = Path(path)
        if path.is_dir():
            self.index_folder(path)
        elif path.name.endswith(".rag.sqlite"):
            self.collections.setCurrentText(str(path) if path.parent != self.ctx.workspace / "rag"
                                            else path.name.removesuffix(".rag.sqlite"))

    def handle_events(self, run_id: str, events: list[dict]) -> None:
        if run_id not in self.jobs:
            return
        for event in events:
            if event.get("kind") == "progress" and event.get("total"):
                self.progress.setRange(0, int(event["total"]))
                self.progress.setValue(int(event.get("done") or 0))
                self.status.setText(event.get("message", ""))
            elif event.get("kind") == "status" and event.get("status") in ("succeeded", "failed", "cancelled"):
                self.jobs.discard(run_id)
                self.progress.setVisible(bool(self.jobs))
                self.refresh()
                if event["status"] != "succeeded":
                    self.status.setText(f"Indexing {event['status']}: {event.get('error', '')}")

    # ---- search

    def search(self) -> None:
        text = self.query.text().strip()
        if not text or self.store is None:
            self.status.setText("Choose a collection and type a query." if not self.store else "")
            return
        options = {"k": self.k.value(), "mode": self.mode.currentText()}
        self.ctx.save_settings({**self.ctx.settings(), "mode": options["mode"], "k": options["k"]})
        if options["mode"] == "keyword":
            self._search_now(Searcher(self.store), text, options)
            return
        meta = self.store.meta()
        self.status.setText("Embedding the query…" + (" (loading the model the first time)"
                                                      if self.encoder.pool is None else ""))
        self._pending = (self.encoder.submit(meta["embedder"], meta.get("precision", "fp32"), text), text, options)
        QTimer.singleShot(20, self._poll)

    def _poll(self) -> None:
        if self._pending is None:
            return
        future, text, options = self._pending
        if not future.done():
            QTimer.singleShot(20, self._poll)
            return
        self._pending = None
        try:
            vector = future.result()
        except Exception as exc:  # the model could not load, or the helper died
            self.encoder.close()
            self.status.setText(f"Vector search failed ({type(exc).__name__}: {exc}); keyword search still works.")
            return
        if self.store is not None:
            self._search_now(Searcher(self.store, lambda _q: vector), text, options)

    def _search_now(self, searcher: Searcher, text: str, options: dict[str, Any]) -> None:
        try:
            hits = searcher.search(text, **options)
        except (sqlite3.DatabaseError, ValueError) as exc:  # a collection damaged since it was opened
            self.status.setText(f"Search failed: {exc}")
            return
        self._show(hits, text)

    def wait_for_search(self, timeout_ms: int = 60000) -> None:
        """Block until a pending vector search is shown (tests and scripts)."""
        if self._pending is not None:
            self._pending[0].result(timeout=timeout_ms / 1000)
            self._poll()

    def _show(self, hits: list[Hit], query: str) -> None:
        self.hits, self.last_query = hits, query
        self.results.setRowCount(len(hits))
        for i, hit in enumerate(hits):
            place = f"p. {hit.page}" if hit.page else f":{hit.line}"
            values = (f"{hit.score:.4f}", f"{Path(hit.path).name}{place}", hit.heading, " ".join(hit.text.split())[:200])
            for j, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(hit.path if j == 1 else value)
                self.results.setItem(i, j, item)
        self.results.resizeColumnsToContents()
        self.status.setText(f"{len(hits)} results for '{query}'" if hits else f"No results for '{query}'.")
        if hits:
            self.results.selectRow(0)
            self.show_hit(0)

    def show_hit(self, row: int) -> None:
        if not 0 <= row < len(self.hits):
            return
        hit = self.hits[row]
        ranks = f"vector #{hit.vector_rank or '–'} · keyword #{hit.keyword_rank or '–'}"
        place = f"page {hit.page}" if hit.page else f"line {hit.line}"
        self.preview.setHtml(f"<p><b>{html.escape(hit.path)}</b> · {place} · {ranks}<br>"
                             f"<i>{html.escape(hit.heading)}</i></p><pre style='white-space: pre-wrap'>"
                             f"{highlight(hit.text, self.last_query)}</pre>")
        self.inspect(hit.path, hit.id)

    def open_hit(self, row: int) -> list[str] | None:
        """Open a result's file at its line with the configured command (``{path}``,
        ``{line}``, ``{page}``), or with the system's default application."""
        if not 0 <= row < len(self.hits):
            return None
        hit = self.hits[row]
        command = self.open_command.text().strip()
        file = str(doc_path(hit.path))  # the file itself, for a name stored with escapes
        if not command:
            QDesktopServices.openUrl(QUrl.fromLocalFile(file))
            return None
        import shlex
        import subprocess

        args = [part.format(path=file, line=hit.line, page=hit.page or 1) for part in shlex.split(command)]
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
        ``chunk_id`` outlined; text formats show the file itself, others the chunk texts.
        A long document shows the INSPECT_CHUNKS chunks around the chosen one (a 20 MB file
        has thousands: shading them all would freeze the window)."""
        if self.store is None:
            return
        try:
            chunks = self.store.chunks_of(path)
        except sqlite3.DatabaseError as exc:
            self.inspector_label.setText(f"{path}: the collection cannot be read ({exc})")
            return
        total, first = len(chunks), 0
        if total > INSPECT_CHUNKS:
            chosen = next((i for i, c in enumerate(chunks) if c.id == chunk_id), 0)
            first = max(0, min(chosen - INSPECT_CHUNKS // 2, total - INSPECT_CHUNKS))
            chunks = chunks[first:first + INSPECT_CHUNKS]
        text = self._document_text(path) if len(chunks) == total else None
        if text is None or any(text[c.start:c.end] != c.text for c in chunks):
            parts, spans, at = [], [], 0  # show the chunks one after another
            for c in chunks:
                spans.append((at, at + len(c.text)))
                parts.append(c.text + "\n\n")
                at += len(parts[-1])
            text = "".join(parts)
        else:
            spans = [(c.start, c.end) for c in chunks]
        self.inspector.setPlainText(text)
        selections = []
        for i, ((start, end), chunk) in enumerate(zip(spans, chunks)):
            selection = QTextEdit.ExtraSelection()
            fmt = QTextCharFormat()
            fmt.setBackground(QColor(CHUNK_COLOURS[i % 2]))
            if chunk.id == chunk_id:
                fmt.setBackground(QColor("#ffd27f"))
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
        shown = f"{len(chunks)} chunks" if len(chunks) == total else \
            f"chunks {first + 1}–{first + len(chunks)} of {total}"
        self.inspector_label.setText(f"{path}: {shown} (shaded in turn"
                                     + ("; the result is outlined" if chunk_id else "") + ")")
        self.inspected = (path, spans)

    @staticmethod
    def _document_text(path: str) -> str | None:
        """The text file itself when it is small enough to show (never a pipe or device)."""
        from ..parse import ParseError, read_text

        file = doc_path(path)
        try:
            if Path(path).suffix.lower() in (".pdf", ".html", ".htm") or not file.is_file() or \
                    file.stat().st_size > INSPECT_BYTES:
                return None
            return read_text(file)
        except (ParseError, OSError):
            return None

    def save_state(self) -> dict:
        return {"tab": self.tabs.currentIndex()}

    def restore_state(self, state: dict) -> None:
        self.tabs.setCurrentIndex(int(state.get("tab", 0)))


def highlight(text: str, query: str) -> str:
    """HTML of ``text`` with the query's words in bold."""
    words = sorted({w for w in re.findall(r"\w+", query.lower()) if len(w) > 2}, key=len, reverse=True)
    escaped = html.escape(text)
    if not words:
        return escaped
    pattern = re.compile(r"\b(" + "|".join(re.escape(html.escape(w)) for w in words) + r")", re.IGNORECASE)
    return pattern.sub(r"<b style='background:#fff3a0'>\1</b>", escaped)
