from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

import studio_rag.hooks as rag_hooks
from studio.api import RunStatus

pytestmark = pytest.mark.gui

TOY = "python:studio_rag.tests.toy:embedder"


@pytest.fixture
def window(make_window):
    return make_window(("rag", rag_hooks))


def collection_file(window, name: str):
    """Where the panel finds the collection ``name``: the RAG folder of the window's workspace."""
    from studio.api import Folders
    from studio_rag.collection_files import collection_path, collections_folder

    return collection_path(name, collections_folder(Folders(window.studio.workspace.root)))


def index_into(window, docs, name="docs"):
    from studio_rag.collection_files import open_for_indexing
    from studio_rag.index import index_sources
    from studio_rag.tests.toy import HashEmbedder, InlineParser

    store = open_for_indexing(collection_file(window, name), HashEmbedder(), 200, 30)
    parser = InlineParser()  # parsed here: no helper process to start
    index_sources(store, [docs], HashEmbedder(), parser=parser)  # type: ignore[arg-type]


def test_panel_lists_sources_searches_and_inspects_chunks(window, docs):
    (docs / "blob.txt").write_bytes(b"\0" * 100)
    index_into(window, docs)
    panel = window.show_panel("rag:panel")
    panel.refresh("docs")
    assert panel.sources.rowCount() == 6
    statuses = {
        panel.sources.item(i, 3).text().split("/")[-1]: panel.sources.item(i, 0).text()
        for i in range(panel.sources.rowCount())
    }
    assert statuses["blob.txt"] == "skipped" and statuses["guide.md"] == "indexed"
    assert "1 skipped" in panel.status.text()
    panel.mode.setCurrentText("keyword")
    panel.query.setText("pasta")
    panel.search()
    source = [panel.results.horizontalHeaderItem(j).text() for j in range(panel.results.columnCount())].index("source")
    assert panel.results.rowCount() >= 1 and panel.results.item(0, source).text().startswith("guide.md:")
    assert "<b style" in panel.preview.toHtml() or "pasta" in panel.preview.toPlainText()
    path, spans = panel.inspected
    assert path.endswith("guide.md") and spans and panel.inspector.toPlainText().startswith("# Guide")
    assert len(panel.inspector.extraSelections()) == len(spans)
    panel.open_command.setText("true {path}:{line}")
    args = panel.open_hit(0)
    assert args == ["true", f"{panel.hits[0].path}:{panel.hits[0].line}"]
    panel.open_command.setText("no-such-editor-here {path}")
    panel.open_hit(0)
    assert "Could not run" in panel.status.text()


def sources_table(panel) -> dict[str, dict[str, str]]:
    """The Sources tab as {file name: {column header: text}}, as a person reads it."""
    headers = [panel.sources.horizontalHeaderItem(j).text() for j in range(panel.sources.columnCount())]
    rows = [
        {h: panel.sources.item(i, j).text() for j, h in enumerate(headers)} for i in range(panel.sources.rowCount())
    ]
    return {row["document"].split("/")[-1]: row for row in rows}


def test_sources_show_why_each_file_was_skipped_in_one_word(window, docs):
    """The reasons were only in tooltips, and the table said "failed" for files the header
    called skipped; a link to a folder above was not listed at all. A parser's own crash
    is the one thing called failed."""
    import os

    from studio_rag.collection_files import open_for_indexing
    from studio_rag.index import IndexOptions, index_sources
    from studio_rag.tests.toy import HashEmbedder, InlineParser

    (docs / "self1").symlink_to("self2")
    (docs / "self2").symlink_to("self1")
    (docs / "sub" / "loop").symlink_to("..")
    (docs / "broken.pdf").write_bytes(os.urandom(2000))
    (docs / "buggy.txt").write_text("the parser trips on this one")
    store = open_for_indexing(collection_file(window, "docs"), HashEmbedder(), 200, 30)
    options = IndexOptions(parser="studio_rag.tests.toy:buggy_parser")
    index_sources(store, [docs], HashEmbedder(), options, parser=InlineParser(options=options))  # type: ignore[arg-type]
    panel = window.show_panel("rag:panel")
    panel.refresh("docs")
    table = sources_table(panel)
    for name in ("self1", "self2"):
        assert (table[name]["status"], table[name]["reason"]) == ("skipped", "a symbolic link loop (skipped)")
    assert (table["loop"]["status"], table["loop"]["reason"]) == (
        "skipped",
        "a link to a folder above it (not followed)",
    )
    assert table["broken.pdf"]["status"] == "skipped" and table["broken.pdf"]["reason"].startswith(
        "not a readable PDF ("
    )
    assert (table["buggy.txt"]["status"], table["buggy.txt"]["reason"]) == ("failed", "KeyError: 'page'")
    assert (table["guide.md"]["status"], table["guide.md"]["reason"]) == ("indexed", "")
    assert "4 skipped, 1 failed (see Sources)" in panel.status.text()
    panel.sources.setCurrentCell(0, 0)  # selecting a row still inspects its document
    document = panel.sources.item(0, 3)  # shown relative to the folder; the label names the whole path
    assert panel.inspector_label.text().startswith(document.data(Qt.ItemDataRole.UserRole))
    assert document.data(Qt.ItemDataRole.UserRole).endswith("/" + document.text())


def test_vector_search_embeds_the_query_in_a_helper_process(window, docs, monkeypatch):
    from studio_rag import embedder

    monkeypatch.setattr(embedder, "_named", set())
    embedder.allow_embedder(TOY)  # the toy embedder is Python code: named here, and passed on to the helper
    index_into(window, docs)
    panel = window.show_panel("rag:panel")
    panel.refresh("docs")
    panel.mode.setCurrentText("hybrid")
    panel.query.setText("rain in Lisbon")
    panel.search()
    panel.wait_for_search()
    assert panel.hits and "Lisbon" in panel.hits[0].text
    panel.encoder.close()


def test_vector_search_on_a_collection_whose_embedder_is_code_nobody_named_is_refused(window, docs, monkeypatch):
    """The panel cannot name an embedder: a collection file that records Python code gets
    a message, and no helper process starts."""
    from studio_rag import embedder

    monkeypatch.setattr(embedder, "_named", set())
    index_into(window, docs)
    panel = window.show_panel("rag:panel")
    panel.refresh("docs")
    panel.mode.setCurrentText("hybrid")
    panel.query.setText("rain in Lisbon")
    panel.search()
    panel._poll()  # the refused query is answered at once; the panel's timer would show it a moment later
    assert "it runs only if you name it" in panel.status.text() and f"--embedder {TOY}" in panel.status.text()
    assert not panel.encoder.warm and not panel.hits


def test_dropping_a_folder_indexes_it(window, docs, qasync_loop):
    from studio.testing import loop_until

    panel = window.show_panel("rag:panel")
    panel.collections.setCurrentText("dropped")

    async def drop():
        return window.open_path(docs)

    assert qasync_loop.run_until_complete(drop()) is True
    (run_id,) = panel.tracker.runs
    job = window.studio.jobs.jobs[run_id]
    assert job.params.collection.endswith("dropped.rag.sqlite")
    assert panel.progress.isVisibleTo(panel) and panel.cancel.isEnabled()
    panel.cancel.click()  # the default embedder is slow to load here; cancelling keeps the collection
    loop_until(qasync_loop, lambda: job.status.finished, timeout=60)
    loop_until(qasync_loop, lambda: not panel.tracker.busy)
    assert job.status == RunStatus.CANCELLED and not panel.cancel.isEnabled()
    assert "Indexing cancelled" in panel.status.text() and not panel.cancel.isVisibleTo(panel)


def test_one_index_at_a_time_from_the_panel(window, docs, qasync_loop, monkeypatch):
    """A second index started while one ran hid the first, and one Cancel stopped both:
    while an index runs, Index folder… and Build sample collection are off, and a folder
    dropped meanwhile is refused with a message."""
    from studio.testing import loop_until

    panel = window.show_panel("rag:panel")
    messages: list[tuple[str, str]] = []
    monkeypatch.setattr(panel.ctx, "show_message", lambda text, level="info": messages.append((level, text)))
    assert panel.index_button.isEnabled() and panel.sample_button.isEnabled()

    async def index_twice():
        first = panel.index_folder(docs)
        busy = (panel.index_button.isEnabled(), panel.sample_button.isEnabled(), panel.cancel.isEnabled())
        others = (panel.index_folder(docs), panel.build_sample())  # a folder dropped meanwhile, the menu's sample
        panel.cancel.click()
        return first, busy, others

    first, busy, others = qasync_loop.run_until_complete(index_twice())
    assert first is not None and busy == (False, False, True) and others == (None, None)
    assert list(window.studio.jobs.jobs) == [first]
    assert [level for level, _ in messages] == ["warning", "warning"] and "being built" in messages[0][1]
    job = window.studio.jobs.jobs[first]
    loop_until(qasync_loop, lambda: job.status.finished, timeout=60)
    loop_until(qasync_loop, lambda: not panel.tracker.busy)
    assert job.status == RunStatus.CANCELLED and "Indexing" in panel.status.text()
    assert panel.index_button.isEnabled() and panel.sample_button.isEnabled() and not panel.cancel.isEnabled()
    assert not panel.progress.isVisibleTo(panel)


def test_empty_workspace_explains_what_to_do(window):
    panel = window.show_panel("rag:panel")
    panel.refresh()
    assert "No collection yet" in panel.status.text()
    panel.query.setText("anything")
    panel.search()
    assert panel.results.rowCount() == 0


def test_inspector_shows_a_window_of_a_long_document_and_opens_a_latin1_name(window, docs, monkeypatch):
    """Shading every chunk of a 20 MB file (thousands) froze the window; a file name that is
    not UTF-8 is stored escaped, and the inspector still finds the file."""
    import os

    import studio_rag.browse as browse

    monkeypatch.setattr(browse, "INSPECT_CHUNKS", 4)
    (docs / "long.txt").write_text("\n\n".join(f"paragraph {i} " + "word " * 150 for i in range(12)))
    fd = os.open(os.fsencode(docs) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY)
    os.write(fd, b"The cafe sells espresso.")
    os.close(fd)
    index_into(window, docs)
    panel = window.show_panel("rag:panel")
    panel.refresh("docs")
    assert panel.sources.rowCount() == 7 and "skipped" not in panel.status.text()
    panel.inspect(str((docs / "long.txt").resolve()))
    assert "chunks 1–4 of" in panel.inspector_label.text() and len(panel.inspector.extraSelections()) == 4
    panel.inspect(str(docs.resolve()) + "/caf\\xe9.txt")
    assert panel.inspector.toPlainText() == "The cafe sells espresso."
    panel.index_folder(docs / os.fsdecode(b"\xff"))  # refused before a job: its parameters are JSON
    assert "not valid UTF-8" in panel.status.text() and not panel.tracker.busy


def test_results_show_rank_and_relevance_and_the_raw_score_in_a_tooltip(window, docs):
    """A fusion score of 0.0328 meant nothing to a reader: a rank, "best match" or the share
    of the best score (with a bar), and the raw score explained in the tooltip."""
    index_into(window, docs)
    panel = window.show_panel("rag:panel")
    panel.refresh("docs")
    panel.mode.setCurrentText("keyword")
    panel.query.setText("pasta budget report")
    panel.search()
    headers = [panel.results.horizontalHeaderItem(j).text() for j in range(panel.results.columnCount())]
    assert headers[:2] == ["#", "relevance"] and panel.results.rowCount() >= 2
    cells = [(panel.results.item(i, 0).text(), panel.results.item(i, 1).text()) for i in range(2)]
    assert cells[0] == ("1", "best match") and cells[1][0] == "2" and cells[1][1].endswith("%")
    assert panel.results.item(0, 1).toolTip().startswith("BM25 keyword score ")
    fraction = panel.results.item(1, 1).data(Qt.ItemDataRole.UserRole)  # the bar's length
    assert fraction == pytest.approx(int(cells[1][1][:-1]) / 100, abs=0.01)
    panel.results.viewport().grab()  # the relevance bar paints


def test_sources_fill_while_the_collection_is_indexed(window, docs, monkeypatch):
    """The Sources tab stayed empty until indexing ended: each progress report of the job
    re-reads the collection being written."""
    from studio.api import Progress
    from studio_rag import index
    from studio_rag.collection_files import open_for_indexing
    from studio_rag.tests.toy import HashEmbedder, InlineParser

    panel = window.show_panel("rag:panel")
    panel.collections.setCurrentText("docs")
    assert panel.sources.rowCount() == 0
    path = collection_file(window, "docs")
    panel._indexing_into = path  # as _start_index sets it; the job's events come from the tracker
    monkeypatch.setattr(panel.tracker, "runs", {"run": None})  # an index runs
    monkeypatch.setattr(index, "EMBED_BLOCK", 1)  # a progress report after each file
    rows_seen = []

    def progress(p):
        panel._index_event(Progress(p["done"], p["total"], "files"))
        assert panel._sources_timer.isActive()  # re-read shortly (at most every SOURCES_MS)
        panel.show_indexed_so_far()  # what the timer calls
        rows_seen.append(panel.sources.rowCount())

    embedder = HashEmbedder()
    store = open_for_indexing(path, embedder, 200, 30)
    index.index_sources(store, [docs], embedder, progress=progress, parser=InlineParser())  # type: ignore[arg-type]
    assert rows_seen[0] == 1 and rows_seen[-1] == 5 and rows_seen == sorted(rows_seen)
    panel.collections.setCurrentText("another")  # the user looks at another collection: left alone
    panel.show_indexed_so_far()
    assert panel.sources.rowCount() == 0


def test_build_sample_is_a_home_action_that_shows_the_panel_and_its_progress(window, monkeypatch):
    """The menu's sample collection ran out of sight ("Refresh the RAG panel when it is
    done"): now a home-page action that shows the RAG panel, its progress and Sources."""
    from PySide6.QtGui import QAction

    from studio.api import MenuAction
    from studio_rag import sample

    (action,) = [c for c in rag_hooks.studio_commands() if isinstance(c, MenuAction)]
    assert action.home and action.title == "Build sample RAG collection"
    monkeypatch.setattr(sample.write_sample_sources, "__defaults__", (("json",),))  # one module: fast
    panel = window.show_panel("rag:panel")
    window.docks["rag:panel"].hide()
    assert not panel.cancel.isVisibleTo(panel)
    submitted = []
    monkeypatch.setattr(panel.ctx, "submit_job", lambda kind, params: submitted.append((kind, params)) or "run-1")
    monkeypatch.setattr(panel.ctx, "when_finished", lambda run_id, callback: None)
    (menu_item,) = [a for a in window.findChildren(QAction) if a.text() == action.title]
    menu_item.trigger()
    assert submitted and submitted[0][1]["collection"].endswith("python-docs.rag.sqlite")
    assert window.docks["rag:panel"].isVisible() and panel.tabs.currentIndex() == 1  # Sources
    assert panel.progress.isVisibleTo(panel) and panel.cancel.isEnabled() and panel.tracker.busy
    assert panel.cancel.isVisibleTo(panel)  # shown while an index runs, hidden when idle
    assert panel.collections.currentText() == "python-docs"
    panel.tracker.runs.clear()


def test_search_marks_chunks_and_sources_are_readable_in_both_themes(window, docs):
    """White text on pastel in the dark theme: the marks of a search's words, the shaded
    chunks and the skipped sources take their colours from the palette, at 4.5:1 contrast
    or more, and are redrawn when the theme changes."""
    from studio.widgets import coloured_text, low_contrast, themed, tint

    (docs / "blob.txt").write_bytes(b"\0" * 100)
    index_into(window, docs)
    panel = window.show_panel("rag:panel")
    panel.refresh("docs")
    panel.mode.setCurrentText("keyword")
    panel.query.setText("boil the pasta")
    for theme, other in (("light", "dark"), ("dark", "light")):
        with themed(other):
            panel.search()  # drawn in the other theme, then the theme switches
            with themed(theme):
                pieces = list(coloured_text(panel))
                marks = [p for p in pieces if p.where == "preview" and p.text.lower() in ("boil", "pasta")]
                chunks = [p for p in pieces if p.where == "inspector (selection)"]
                assert len(marks) >= 2 and len(chunks) == len(panel.inspector.extraSelections()) >= 2
                assert not [p for p in pieces if p.where == "preview" and p.text.lower() == "the"]  # a stop word
                assert [p.text for p in pieces if p.where.startswith("sources")] == ["skipped"]
                assert not low_contrast(panel), (theme, [str(p) for p in low_contrast(panel)])
                assert len({p.bg.name() for p in chunks}) >= 2  # chunks are still told apart
                assert {p.bg.name() for p in marks} == {tint("match").name()}  # redrawn for this theme


def test_panel_fits_its_dock_on_a_laptop_screen(window, qapp, docs):
    """At 1366×768 the RAG dock is ~490 px wide: the three buttons beside the collection
    asked ~510, so the panel scrolled sideways ("hon-docs", the sample button cut off)."""
    from PySide6.QtWidgets import QScrollArea

    from studio.testing import assert_fits, assert_no_overlap

    index_into(window, docs, name="python-docs-with-a-rather-long-name")
    window.resize(1366, 768)
    panel = window.show_panel("rag:panel")
    panel.refresh("python-docs-with-a-rather-long-name")
    assert panel.minimumSizeHint().width() <= 400
    assert_fits(window, 1366, 768)
    dock = window.docks["rag:panel"]
    window.resizeDocks([dock], [490], Qt.Orientation.Horizontal)  # as wide as the walk found it
    qapp.processEvents()
    assert_no_overlap(window)
    scroll = dock.widget()
    assert isinstance(scroll, QScrollArea) and scroll.widget() == panel and not panel.visibleRegion().isEmpty()
    assert dock.width() <= 500
    assert scroll.horizontalScrollBar().maximum() == 0, f"{panel.width()} px in a {scroll.viewport().width()} px dock"
    assert panel.sample_button.visibleRegion().boundingRect().width() == panel.sample_button.width()  # not cut off


def test_results_keep_headings_short_and_sources_show_relative_paths(window, docs, qapp):
    """A long heading made the text column scroll out of sight; the Sources tab showed
    full paths. The heading is elided (whole in its tooltip) and the text column stretches;
    documents show relative to the indexed folder (the full path in the tooltip)."""
    long_heading = "json.dump(obj, fp, *, skipkeys=False, ensure_ascii=True, check_circular=True, allow_nan=True)"
    (docs / "guide.md").write_text(f"# {long_heading}\n\nBoil the pasta for ten minutes, then drain it.\n")
    index_into(window, docs)
    window.resize(1366, 768)
    panel = window.show_panel("rag:panel")
    panel.refresh("docs")
    panel.mode.setCurrentText("keyword")
    panel.query.setText("pasta")
    panel.search()
    headers = [panel.results.horizontalHeaderItem(j).text() for j in range(panel.results.columnCount())]
    heading, text = headers.index("heading"), headers.index("text")
    assert panel.results.item(0, heading).toolTip().endswith(long_heading)
    dock = window.docks["rag:panel"]
    for width in (490, 900):  # the dock on a 1366×768 screen, then made wider: the columns follow
        window.resizeDocks([dock], [width], Qt.Orientation.Horizontal)
        qapp.processEvents()
        qapp.processEvents()
        assert panel.results.columnWidth(heading) <= 200
        assert panel.results.horizontalScrollBar().maximum() == 0  # the text column fills what is left
        assert panel.results.columnWidth(text) >= 100

    documents = {panel.sources.item(i, 3).text(): i for i in range(panel.sources.rowCount())}
    assert {"guide.md", "notes.txt", "sub/deep.rst"} <= set(documents)
    item = panel.sources.item(documents["sub/deep.rst"], 3)
    assert item.toolTip() == item.data(Qt.ItemDataRole.UserRole) == str(docs.resolve() / "sub" / "deep.rst")
    panel.sources.setCurrentCell(item.row(), 0)  # the inspector still finds the document
    assert panel.inspected[0] == item.toolTip() and "submarine" in panel.inspector.toPlainText()


def test_relative_paths_of_sources():
    from studio_rag.qt.collections_panel import relative_paths

    assert relative_paths(["/d/a.md", "/d/sub/b.md"]) == ["a.md", "sub/b.md"]
    assert relative_paths(["/d/only.md"]) == ["only.md"]
    assert relative_paths(["/x/a.md", "/y/b.md"]) == ["x/a.md", "y/b.md"]
    assert relative_paths([]) == []


def test_a_remembered_collection_that_is_gone_opens_one_that_exists(window, docs):
    """The panel used to open "docs" (the default, or a name remembered) when only another
    collection existed: an empty panel whose searches found nothing."""
    index_into(window, docs, name="python-docs")
    panel = window.show_panel("rag:panel")
    panel.refresh("docs")
    assert panel.collections.currentText() == "python-docs" and panel.sources.rowCount() > 0
