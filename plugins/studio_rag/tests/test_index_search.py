from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from studio_rag.ann import ApproximateIndex
from studio_rag.collection_files import open_for_indexing
from studio_rag.index import IndexingError, IndexOptions, index_sources
from studio_rag.search import Searcher
from studio_rag.store import Source, SQLiteStore, StoreError


def collection(tmp_path, embedder, name="c"):
    return open_for_indexing(tmp_path / f"{name}.rag.sqlite", embedder, 200, 30)


def searcher(store, embedder):
    return Searcher(store, lambda q: embedder.encode([q])[0], ApproximateIndex(store))


def test_index_then_search_in_every_mode(tmp_path, docs, toy):
    store = collection(tmp_path, toy)
    report = index_sources(store, [docs], toy)
    assert report.indexed == 5 and report.failed == [] and report.chunks >= 7
    s = searcher(store, toy)
    (top,) = s.search("how long to boil pasta", k=1, mode="keyword")
    assert top.path.endswith("guide.md") and top.heading == "Guide › Cooking" and "pasta" in top.text
    assert top.line == 5 and top.text.startswith("## Cooking") and top.keyword_rank == 1
    (top,) = s.search("boil pasta minutes", k=1, mode="vector")
    assert "pasta" in top.text and top.vector_rank == 1 and 0 < top.score <= 1.0001
    hybrid = s.search("rain in Lisbon", k=3)
    assert "Lisbon" in hybrid[0].text and hybrid[0].vector_rank == 1 and hybrid[0].keyword_rank == 1
    assert "secret" not in " ".join(h.text for h in s.search("secret var", k=10, mode="keyword"))  # scripts dropped
    assert s.search("submarine", k=5, path="*/sub/*")[0].path.endswith("deep.rst")
    assert all(h.path.endswith("guide.md") for h in s.search("water pasta", k=5, path="*guide.md"))
    assert all("Gardening" in h.heading for h in s.search("water", k=5, heading="garden"))


def test_hybrid_fuses_ranks(tmp_path, docs, toy):
    store = collection(tmp_path, toy)
    index_sources(store, [docs], toy)
    s = searcher(store, toy)
    hits = s.search("quarterly report Friday budget", k=5)
    assert hits[0].path.endswith("notes.txt")
    both = [h for h in hits if h.vector_rank and h.keyword_rank]
    only_one = [h for h in hits if not (h.vector_rank and h.keyword_rank)]
    assert both and all(b.score > o.score for b in both[:1] for o in only_one)


def test_mmr_prefers_variety(tmp_path, toy):
    folder = tmp_path / "same"
    folder.mkdir()
    for i in range(4):
        (folder / f"copy{i}.txt").write_text("apples oranges bananas fruit salad")
    (folder / "other.txt").write_text("fruit salad with grapes and melon slices")
    store = collection(tmp_path, toy)
    index_sources(store, [folder], toy)
    s = searcher(store, toy)
    plain = s.search("fruit salad apples", k=2, mode="vector")
    diverse = s.search("fruit salad apples", k=2, mode="vector", mmr=0.3)
    assert {Path(h.path).name for h in plain} <= {f"copy{i}.txt" for i in range(4)}
    assert "other.txt" in {Path(h.path).name for h in diverse}


def test_approximate_index_matches_exact_and_is_rebuilt_when_stale(tmp_path, toy):
    rng = np.random.default_rng(0)
    store = collection(tmp_path, toy)
    from studio_rag.chunk import Chunk

    vectors = rng.normal(size=(500, toy.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store.write_documents(
        [(Source(f"/d{i}", "h"), [Chunk(f"text {i}", 0, 1, line=1)], vectors[i : i + 1]) for i in range(500)]
    )
    ann = ApproximateIndex(store)
    s = Searcher(store, None, ann)
    for q in vectors[:20]:
        exact = [i for i, _ in s._vector(q, 10, None, approximate=False)]
        approx = [i for i, _ in ann.search(q, 10)]
        assert len(set(exact) & set(approx)) >= 9
    assert ann.path.exists()
    store.remove_documents(["/d0"])
    assert all(i != 1 for i, _ in ann.search(vectors[0], 10))  # rebuilt: the removed chunk is gone
    ann.stamp.write_text("garbage")  # a damaged cache is rebuilt, never trusted
    assert len(ApproximateIndex(store).search(vectors[5], 3)) == 3


def test_incremental_reindex_skips_unchanged_updates_changed_removes_deleted(tmp_path, docs, toy):
    store = collection(tmp_path, toy)
    index_sources(store, [docs], toy)
    before = store.documents()
    (docs / "notes.txt").write_text("The annual report moved to Monday.\n")
    (docs / "page.html").unlink()
    (docs / "new.md").write_text("# New\n\nFresh content about volcanoes.\n")
    report = index_sources(store, [docs], toy)
    assert (report.unchanged, report.indexed, report.removed) == (3, 2, 1)
    after = store.documents()
    assert str((docs / "page.html").resolve()) not in after
    guide = str((docs / "guide.md").resolve())
    assert after[guide]["indexed_at"] == before[guide]["indexed_at"]  # untouched
    s = searcher(store, toy)
    assert "Monday" in s.search("annual report", k=1, mode="keyword")[0].text
    assert not s.search("quarterly", k=3, mode="keyword")  # the old chunks are gone with the old text


def test_bad_and_hanging_files_are_skipped_and_reported(tmp_path, docs, toy):
    (docs / "blob.txt").write_bytes(b"\x00" * 500)
    (docs / "hang.txt").write_text("never parsed")
    store = collection(tmp_path, toy)
    options = IndexOptions(parser="studio_rag.tests.toy:hanging_parser", file_timeout=3)
    started = time.perf_counter()
    report = index_sources(store, [docs], toy, options)
    failed = dict(report.failed)
    assert "binary" in failed[str((docs / "blob.txt").resolve())]
    assert "longer than 3 s" in failed[str((docs / "hang.txt").resolve())]
    assert report.indexed == 5 and time.perf_counter() - started < 60
    assert store.documents()[str((docs / "hang.txt").resolve())]["status"] == "skipped"
    report = index_sources(store, [docs], toy, options)  # unchanged failures are not retried
    assert report.unchanged == 7 and not report.failed


def test_mismatched_embedder_missing_source_and_corrupt_file(tmp_path, docs, toy):
    store = collection(tmp_path, toy)
    index_sources(store, [docs], toy)

    class Other:
        spec, dim, precision = "other", 8, "fp32"

    with pytest.raises(IndexingError, match=r"built with the embedder 'python:studio_rag\.tests\.toy:embedder'"):
        index_sources(store, [docs], Other())
    with pytest.raises(IndexingError, match=r"no such folder or file: .*never"):  # never a source
        index_sources(store, [tmp_path / "never"], toy)
    (docs / "sub" / "deep.rst").unlink()
    (docs / "sub").rmdir()
    with pytest.raises(IndexingError, match="no longer exists; its 1 document stays"):  # was one: say what stays
        index_sources(store, [docs / "sub"], toy)
    bad = tmp_path / "bad.rag.sqlite"
    bad.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(StoreError, match="not a readable collection"):
        SQLiteStore(bad)
    assert bad.read_bytes() == b"definitely not sqlite" * 100


KILL_SCRIPT = """
import sys
from pathlib import Path
from studio_rag.collection_files import open_for_indexing
from studio_rag.index import index_sources
from studio_rag import index
from studio_rag.tests.toy import slow_embedder
if __name__ == "__main__":  # the parse helper is spawned: it imports this file again
    index.EMBED_BLOCK = 4  # write often, so a kill lands between and inside writes
    e = slow_embedder()
    store = open_for_indexing(Path(sys.argv[1]), e, 40, 5)
    print("start", flush=True)
    index_sources(store, [Path(sys.argv[2])], e, index.IndexOptions(chunk_size=40, overlap=5))
    print("done", flush=True)
"""


def test_killed_indexer_leaves_a_consistent_collection_and_resumes(tmp_path, toy):
    from studio_rag.tests.toy import SlowEmbedder

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(60):
        (folder / f"doc{i:02}.md").write_text(f"# Doc {i}\n\n" + f"Paragraph about topic {i}. " * 30)
    path = tmp_path / "killed.rag.sqlite"
    script = tmp_path / "index_then_die.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), str(folder)], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "start"
    deadline = time.time() + 60
    while time.time() < deadline:  # kill once some documents are in
        time.sleep(0.3)
        if path.exists():
            try:
                with sqlite3.connect(path) as db:
                    if db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] >= 5:
                        break
            except sqlite3.OperationalError:
                pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    store = SQLiteStore(path)
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    docs = store.documents()
    assert 5 <= len(docs) < 60
    for doc_path, doc in docs.items():  # every document is whole: its chunks are all there
        assert len(store.chunks_of(doc_path)) == doc["chunks"] > 0
    ids, _matrix = store.vectors()
    assert len(ids) == store.count()
    kw = Searcher(store).search("topic", k=3, mode="keyword")
    assert kw
    report = index_sources(store, [folder], SlowEmbedder(), IndexOptions(chunk_size=40, overlap=5))
    assert report.unchanged == len(docs) and report.indexed == 60 - len(docs)
    assert len(store.documents()) == 60
    fresh = open_for_indexing(tmp_path / "fresh.rag.sqlite", toy, 40, 5)
    index_sources(fresh, [folder], toy, IndexOptions(chunk_size=40, overlap=5))
    assert fresh.count() == store.count()


def test_unchanged_files_are_not_even_hashed_and_watch_picks_up_changes(tmp_path, docs, toy, monkeypatch):
    import threading

    from studio_rag import index as index_module

    store = collection(tmp_path, toy)
    index_sources(store, [docs], toy)
    hashed = []
    real_hash = index_module.file_hash
    monkeypatch.setattr(index_module, "file_hash", lambda p: hashed.append(p) or real_hash(p))
    assert index_sources(store, [docs], toy).unchanged == 5 and hashed == []
    os.utime(docs / "notes.txt")  # touched, same content: hashed once, not re-embedded
    report = index_sources(store, [docs], toy)
    assert report.unchanged == 5 and len(hashed) == 1
    passes: list[index_module.IndexReport] = []
    stop = threading.Event()
    watcher = threading.Thread(
        target=index_module.watch,
        args=(store, [docs], toy),
        daemon=True,
        kwargs={"interval": 0.2, "on_pass": passes.append, "cancelled": stop.is_set},
    )
    watcher.start()
    time.sleep(0.5)
    (docs / "later.md").write_text("# Later\n\nA note about glaciers.\n")
    deadline = time.time() + 30
    while time.time() < deadline and not any(r.indexed for r in passes):
        time.sleep(0.1)
    stop.set()
    watcher.join(30)
    assert any(r.indexed == 1 for r in passes)
    assert "glaciers" in Searcher(store).search("glaciers", k=1, mode="keyword")[0].text


def test_a_full_disk_stops_cleanly_and_keeps_what_was_written(tmp_path, docs, toy, monkeypatch):
    store = collection(tmp_path, toy)
    real_write = SQLiteStore.write_documents
    calls = []

    def write_until_full(self, batch):
        calls.append(len(batch))
        if len(calls) > 1:
            raise sqlite3.OperationalError("database or disk is full")
        return real_write(self, batch)

    from studio_rag import index as index_module

    monkeypatch.setattr(SQLiteStore, "write_documents", write_until_full)
    monkeypatch.setattr(index_module, "EMBED_BLOCK", 1)  # one document per write
    with pytest.raises(IndexingError, match=r"disk is full.*keeps every document written"):
        index_sources(store, [docs], toy)
    monkeypatch.setattr(SQLiteStore, "write_documents", real_write)
    assert len(store.documents()) == 1 and store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert index_sources(store, [docs], toy).indexed == 4  # resumes once there is space


def test_a_collection_from_before_the_mtime_column_is_upgraded_in_place(tmp_path, docs, toy):
    store = collection(tmp_path, toy)
    index_sources(store, [docs], toy)
    store.db.execute("ALTER TABLE documents DROP COLUMN mtime")
    store.close()
    store = SQLiteStore(tmp_path / "c.rag.sqlite")
    assert len(store.documents()) == 5
    assert index_sources(store, [docs], toy).unchanged == 5  # hashes still match: nothing re-embedded
