"""What the RAG panel shows, without a window (``browse``), and the helper process that
embeds its queries (``query_pool``)."""

from __future__ import annotations

import os
import sqlite3

import pytest

from studio_rag import browse
from studio_rag.collection_files import open_for_indexing
from studio_rag.index import IndexOptions, index_sources
from studio_rag.query_pool import QueryEncoder
from studio_rag.search import Hit
from studio_rag.tests.toy import HashEmbedder


@pytest.fixture
def folder(tmp_path, docs, toy):
    """A collections folder with ``docs`` indexed into ``docs`` (one file skipped)."""
    (docs / "blob.txt").write_bytes(b"\0" * 100)
    rag = tmp_path / "rag"
    store = open_for_indexing(rag / "docs.rag.sqlite", toy, 200, 30)
    index_sources(store, [docs], toy)
    store.close()
    return rag


def hit(**fields) -> Hit:
    base = {
        "id": 1,
        "path": "/docs/guide.md",
        "text": "Boil the pasta for ten minutes.",
        "start": 0,
        "end": 31,
        "line": 7,
        "page": None,
        "heading": "Guide › Cooking",
        "score": 0.5,
        "vector_rank": 2,
        "keyword_rank": None,
    }
    return Hit(**{**base, **fields})


def test_a_collection_opens_as_rows_and_a_summary_line(folder):
    opened = browse.open_collection("docs", folder)
    assert opened.store is not None and opened.rows is not None and opened.message is not None
    rows = {row.document.rsplit("/", 1)[-1]: row for row in opened.rows}
    assert rows["guide.md"].cells()[0] == "indexed" and int(rows["guide.md"].cells()[1]) >= 1
    assert rows["blob.txt"].status == "skipped" and rows["blob.txt"].reason
    assert opened.message.startswith("docs: 5 documents, ")
    assert "1 skipped (see Sources) · embedder python:studio_rag.tests.toy:embedder (fp32)" in opened.message
    opened.store.close()


def test_a_missing_bad_or_damaged_collection_opens_as_nothing_with_the_reason(folder):
    assert browse.open_collection("nothing-here", folder) == browse.OpenedCollection()
    assert "collection name" in str(browse.open_collection("bad name!", folder).message)
    (folder / "broken.rag.sqlite").write_bytes(b"SQLite format 3\x00" + os.urandom(8000))
    broken = browse.open_collection("broken", folder)
    assert broken.store is None and broken.rows is None and "broken" in str(broken.message)


def test_index_params_name_the_collection_file_and_refuse_a_name_that_is_not_utf8(tmp_path):
    params = browse.index_params(tmp_path / "docs", "notes", tmp_path / "rag")
    assert params == {"sources": [str(tmp_path / "docs")], "collection": str(tmp_path / "rag" / "notes.rag.sqlite")}
    with pytest.raises(ValueError, match="not valid UTF-8"):
        browse.index_params(tmp_path / os.fsdecode(b"\xff"), "notes", tmp_path / "rag")


def test_an_opened_file_shows_as_its_name_in_the_folder_else_as_its_path(tmp_path):
    assert browse.collection_field(tmp_path / "rag" / "kb.rag.sqlite", tmp_path / "rag") == "kb"
    assert browse.collection_field(tmp_path / "kb.rag.sqlite", tmp_path / "rag") == str(tmp_path / "kb.rag.sqlite")


def test_keyword_and_vector_search_and_a_failure_keep_their_message(folder, toy):
    store = browse.open_collection("docs", folder).store
    assert store is not None
    hits, message = browse.search(store, "pasta", {"k": 2, "mode": "keyword"})
    assert hits and hits[0].path.endswith("guide.md") and message == "1 result for 'pasta'"
    hits, message = browse.search(
        store, "rain in Lisbon", {"k": 1, "mode": "hybrid"}, toy.encode(["rain in Lisbon"])[0]
    )
    assert hits and "Lisbon" in hits[0].text
    assert browse.search(store, "zzzz", {"k": 2, "mode": "keyword"}) == ([], "No results for 'zzzz'.")
    hits, message = browse.search(store, "pasta", {"k": 2, "mode": "vector"})  # no vector given
    assert hits is None and message.startswith("Search failed: vector and hybrid search need")
    store.db.close()  # damaged since it was opened, as far as the search can tell
    assert browse.search(store, "pasta", {"k": 2, "mode": "keyword"})[0] is None
    with pytest.raises(sqlite3.ProgrammingError):
        store.count()


def test_results_as_cells_a_highlighted_preview_and_the_command_that_opens_them():
    line_hit = hit(text="Boil   the pasta\nfor " + "x" * 300)
    rank, relevance, source, heading, text = browse.result_cells(line_hit, 2, 0.834)
    assert (rank, relevance, source, heading) == ("2", "83%", "guide.md:7", "Guide › Cooking")
    assert text.startswith("Boil the pasta for ") and len(text) == browse.PREVIEW_CHARS
    assert browse.result_cells(hit(page=3))[:3] == ("1", "best match", "guide.md p. 3")
    preview = browse.preview_html(hit(text="Boil the <pasta> now"), "boil pasta", ("#123456", "#eeeeee"))
    assert "line 7 · vector #2 · keyword #–" in preview
    mark = "<b style='background:#123456;color:#eeeeee'>"
    assert f"{mark}Boil</b>" in preview and f"&lt;{mark}pasta</b>&gt;" in preview
    assert browse.highlight("a <b>", "to") == "a &lt;b&gt;"  # short words are not highlighted
    assert browse.highlight("AT&T", "amp t") == "AT&amp;T"  # never inside an escape
    assert browse.open_command("code -g '{path}:{line}'", hit()) == ["code", "-g", "/docs/guide.md:7"]
    assert browse.open_command("okular --page {page} {path}", hit(page=None)) == [
        "okular",
        "--page",
        "1",
        "/docs/guide.md",
    ]


def test_the_inspector_shows_the_file_itself_or_the_chunk_texts_and_a_window_of_a_long_one(tmp_path, toy, monkeypatch):
    docs = tmp_path / "long"
    docs.mkdir()
    (docs / "long.txt").write_text("\n\n".join(f"paragraph {i} " + "word " * 150 for i in range(12)))
    store = open_for_indexing(tmp_path / "c.rag.sqlite", toy, 200, 30)
    index_sources(store, [docs], toy, IndexOptions())
    path = str((docs / "long.txt").resolve())
    chunks = store.chunks_of(path)
    view = browse.chunk_view(path, chunks, chunks[1].id)
    assert view.text == (docs / "long.txt").read_text() and len(view.spans) == len(chunks)
    assert view.label == f"{path}: {len(chunks)} chunks (shaded in turn; the result is outlined)"
    as_chunks = browse.chunk_view(path, chunks, read=lambda _p: None)  # a PDF: its chunks one after another
    assert as_chunks.text == "".join(c.text + "\n\n" for c in chunks)
    assert [as_chunks.text[a:b] for a, b in as_chunks.spans] == [c.text for c in chunks]
    monkeypatch.setattr(browse, "INSPECT_CHUNKS", 4)
    window = browse.chunk_view(path, chunks, chunks[-1].id)
    assert [c.id for c in window.chunks] == [c.id for c in chunks[-4:]]
    assert f"chunks {len(chunks) - 3}–{len(chunks)} of {len(chunks)}" in window.label
    assert browse.document_text(str(tmp_path / "missing.txt")) is None
    assert browse.document_text("/dev/zero") is None  # never a device


def test_sample_params_write_the_documents_into_the_plugins_folder(tmp_path, monkeypatch):
    from studio_rag import sample

    monkeypatch.setattr(sample, "MODULES", ("json",))
    monkeypatch.setattr(sample.write_sample_sources, "__defaults__", (("json",),))
    params = browse.sample_index_params(tmp_path / "rag", tmp_path / "rag")
    assert params["sources"] == [str(tmp_path / "rag" / "sources" / "python-docs")]
    assert params["collection"] == str(tmp_path / "rag" / "python-docs.rag.sqlite")
    assert (tmp_path / "rag" / "sources" / "python-docs" / "json.md").read_text().startswith("# json")


def test_the_query_helper_embeds_in_another_process_and_stops_at_once(monkeypatch):
    from studio_rag import embedder

    monkeypatch.setattr(embedder, "_named", set())
    embedder.allow_embedder(HashEmbedder.spec)  # Python code: named here, and passed on to the helper
    encoder = QueryEncoder()
    assert not encoder.warm
    try:
        vector = encoder.submit(HashEmbedder.spec, "fp32", "rain in Lisbon").result(timeout=60)
        assert encoder.warm and (vector == HashEmbedder().encode(["rain in Lisbon"])[0]).all()
        (process,) = encoder.pool._processes.values()
        assert process.pid != os.getpid()
    finally:
        encoder.close()
    assert not encoder.warm and not process.is_alive()
    encoder.close()  # twice is fine


def test_stop_words_and_short_words_are_not_highlighted():
    """Searching "the model of a plugin" marked every "the" and "of" in the preview."""
    assert browse.highlight_words("How do I load the model of a plugin?") == ["plugin", "model", "load"]
    marked = browse.highlight("The model of the plugin", "the model of a plugin")
    assert marked == "The <b>model</b> of the <b>plugin</b>"
    assert browse.highlight("the end", "the") == "<b>the</b> end"  # a query of stop words only keeps them


def test_results_show_a_rank_and_a_relevance_with_the_raw_score_explained():
    """A fused score of 0.0328 meant nothing: each result says how close it is to the best."""
    hits = [hit(score=2 / 61, vector_rank=1, keyword_rank=1), hit(score=1 / 61, keyword_rank=None), hit(score=0.0)]
    assert browse.relevance(hits) == pytest.approx([1.0, 0.5, 0.0])
    assert [browse.relevance_text(i + 1, f) for i, f in enumerate(browse.relevance(hits))] == [
        "best match",
        "50%",
        "0%",
    ]
    assert browse.relevance([hit(score=-0.2), hit(score=-0.5)]) == [1.0, 0.0]  # cosines all below zero
    # a second result at 99.8% read "100%", as if a perfect match: only a tie says so
    close = [hit(score=0.5), hit(score=0.5), hit(score=0.499), hit(score=0.29)]
    texts = [browse.relevance_text(i + 1, f) for i, f in enumerate(browse.relevance(close))]
    assert texts == ["best match", "tied best", "99%", "58%"]
    assert browse.relevance_text(2, 0.29) == "29%"  # rounded down, not below what it is
    assert browse.relevance([]) == []
    assert "fusion score 0.0328" in browse.score_tip(hits[0], "hybrid") and "keyword #1" in browse.score_tip(
        hits[0], "hybrid"
    )
    assert browse.score_tip(hits[0], "vector").startswith("cosine similarity 0.0328")
    assert browse.score_tip(hits[0], "keyword").startswith("BM25 keyword score 0.0328")


def test_counts_are_singular_for_one():
    """ "1 chunks" in the summary, the inspector, the results line, the progress and the CLI."""
    from studio_rag.jobs import duration, progress_message
    from studio_rag.store import ChunkRow
    from studio_rag.wording import plural

    assert (plural(1, "chunk"), plural(0, "chunk"), plural(2, "chunk")) == ("1 chunk", "0 chunks", "2 chunks")
    docs = {"/d/a.md": {"status": "indexed", "chunks": 1, "error": ""}}
    assert browse.collection_summary("kb", docs, 1, {"embedder": "minilm"}).startswith("kb: 1 document, 1 chunk ·")
    row = ChunkRow(1, "/nowhere/a.md", "text", 0, 4, 1, None, "")
    view = browse.chunk_view("/nowhere/a.md", [row], read=lambda _p: "text")
    assert view.label.startswith("/nowhere/a.md: 1 chunk (")
    progress = {"done": 0, "total": 1, "eta_s": 4000.0}
    assert progress_message(progress) == "0/1 file · 67 min left"
    assert (duration(40), duration(600), duration(7500)) == ("40 s", "10 min", "2 h 5 min")
