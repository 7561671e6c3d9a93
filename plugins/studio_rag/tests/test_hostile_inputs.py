"""Hostile input below the CLI: file names that are not UTF-8, links that loop, files that
are not collections, model folders whose config must not be built, searches out of range."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from studio_rag.collection_files import list_collections, open_for_indexing
from studio_rag.doc_keys import doc_key, doc_path
from studio_rag.embedder import EmbedderError, minilm_path, open_embedder
from studio_rag.index import IndexOptions, index_sources
from studio_rag.search import Searcher
from studio_rag.store import SQLiteStore, StoreError

from .toy import foreign_database


def collection(tmp_path, embedder, name="c"):
    return open_for_indexing(tmp_path / f"{name}.rag.sqlite", embedder, 200, 30)


def latin1_file(folder: Path, text: bytes) -> str:
    """``café.txt`` written as a latin-1 system would: the name's bytes are not UTF-8."""
    fd = os.open(os.fsencode(folder) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY)
    os.write(fd, text)
    os.close(fd)
    return str(folder.resolve()) + "/caf\\xe9.txt"


def test_a_file_name_that_is_not_utf8_is_indexed_under_an_escaped_key(tmp_path, docs, toy):
    """One such name used to fail the whole run (SQLite takes UTF-8 only), indexing nothing."""
    key = latin1_file(docs, b"The cafe sells espresso and croissants.")
    store = collection(tmp_path, toy)
    report = index_sources(store, [docs], toy)
    assert report.indexed == 6 and not report.failed
    assert store.documents()[key]["status"] == "indexed"
    (hit,) = Searcher(store).search("espresso", k=1, mode="keyword")
    assert hit.path == key and json.dumps(hit.to_json()).isascii()
    assert doc_path(key).read_bytes().startswith(b"The cafe")  # the key leads back to the file
    assert index_sources(store, [docs], toy).unchanged == 6  # recognised on the next run
    os.unlink(doc_path(key))
    assert index_sources(store, [docs], toy).removed == 1


def test_keys_round_trip_and_valid_names_are_their_own_key(tmp_path):
    plain = tmp_path / "naïve résumé.txt"
    assert doc_key(plain) == str(plain) and doc_path(str(plain)) == plain
    odd = os.fsdecode(os.fsencode(tmp_path) + b"/\xff\xfe.md")
    assert doc_key(odd).endswith("/\\xff\\xfe.md") and doc_path(doc_key(odd)) == Path(odd)


def test_links_that_loop_or_lead_nowhere_are_skipped_with_the_reason(tmp_path, docs, toy):
    (docs / "loop.txt").symlink_to("loop.txt")
    (docs / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    (docs / "sub" / "up").symlink_to(docs)  # a folder loop: not followed, but listed
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "far.md").write_text("# Far\n\nnot indexed through the link\n")
    (docs / "aside").symlink_to(tmp_path / "elsewhere")
    store = collection(tmp_path, toy)
    report = index_sources(store, [docs], toy)
    failed = dict(report.failed)
    root = docs.resolve()
    assert "symbolic link loop" in failed[str(root / "loop.txt")]
    assert "broken symbolic link" in failed[str(root / "dangling.md")]
    assert failed[str(root / "sub" / "up")] == "a link to a folder above it (not followed)"
    assert failed[str(root / "aside")] == "a linked folder (not followed)"
    assert report.indexed == 5 and len(failed) == 4
    assert {store.documents()[p]["status"] for p in failed} == {"skipped"}
    again = index_sources(store, [docs], toy)  # listed once, not on every pass
    assert again.unchanged == 5 and not again.failed


def test_a_lone_surrogate_from_a_parser_is_stored_as_a_question_mark(tmp_path, docs, toy):
    (docs / "odd.txt").write_text("replaced by the parser")
    store = collection(tmp_path, toy)
    report = index_sources(store, [docs], toy, IndexOptions(parser="studio_rag.tests.toy:surrogate_parser"))
    assert report.indexed == 6 and not report.failed
    (row,) = store.chunks_of(str((docs / "odd.txt").resolve()))
    assert row.text == "broken ? string in a page" and row.heading == "head ?"


def test_an_sqlite_file_that_is_not_a_collection_is_left_untouched(tmp_path, toy):
    other = tmp_path / "app.db"
    before = foreign_database(other)
    with pytest.raises(StoreError, match="not a collection"):
        open_for_indexing(other, toy, 200, 30)
    with pytest.raises(StoreError, match="not a collection"):
        SQLiteStore(other)
    assert other.read_bytes() == before and not Path(f"{other}-wal").exists()


def test_a_damaged_collection_is_refused_on_opening_and_listed_as_unreadable(tmp_path, docs, toy):
    path = tmp_path / "rag" / "c.rag.sqlite"
    path.parent.mkdir()
    store = open_for_indexing(path, toy, 200, 30)
    index_sources(store, [docs], toy)
    store.close()  # the last connection: the log is written into the file and removed
    assert not Path(f"{path}-wal").exists()
    data = bytearray(path.read_bytes())
    data[8192:] = b"\xab" * (len(data) - 8192)  # the schema and metadata pages read, the documents' not
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="not a readable collection"):
        SQLiteStore(path)
    (row,) = list_collections(path.parent)
    assert "not a readable collection" in row["error"]
    assert path.read_bytes() == bytes(data)


def test_searches_out_of_range_or_not_utf8_are_refused(tmp_path, docs, toy):
    store = collection(tmp_path, toy)
    index_sources(store, [docs], toy)
    searcher = Searcher(store, lambda q: toy.encode([q])[0])
    with pytest.raises(ValueError, match="at least one"):
        searcher.search("pasta", k=-1)
    with pytest.raises(ValueError, match="from 0 to 1"):
        searcher.search("pasta", mmr=5)
    with pytest.raises(ValueError, match="UTF-8"):
        searcher.search("caf\udce9")


def model_folder_with(tmp_path, **config) -> Path:
    """MiniLM's folder with some config.json values changed (the weights linked, not copied)."""
    folder = tmp_path / "embedder"
    shutil.copytree(minilm_path(), folder, ignore=shutil.ignore_patterns("model.safetensors"))
    (folder / "model.safetensors").symlink_to(minilm_path() / "model.safetensors")
    values = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**values, **config}))
    return folder


def test_a_config_that_does_not_match_its_weights_is_refused_before_building(tmp_path):
    """One layer more than the weights hold used to build (the extra layer random)."""
    with pytest.raises(EmbedderError, match="num_hidden_layers is 7 but the weights hold 6 layers"):
        open_embedder(str(model_folder_with(tmp_path, num_hidden_layers=7)))


def test_a_config_of_100000_layers_is_refused_at_once(tmp_path):
    """It hung indexing: building allocates every layer the config names."""
    from studio_rag.modelcheck import ModelCheckError, check_model_folder

    started = time.perf_counter()
    with pytest.raises(ModelCheckError, match="num_hidden_layers is 100,000"):
        open_embedder(str(model_folder_with(tmp_path, num_hidden_layers=100_000)))
    assert time.perf_counter() - started < 10
    big = model_folder_with(tmp_path / "big", hidden_size=16384, intermediate_size=65536, num_hidden_layers=256)
    with pytest.raises(ModelCheckError, match="GiB"):
        check_model_folder(big)
    (big / "config.json").write_text('{"num_hidden_layers": "many"}')
    with pytest.raises(ModelCheckError, match="positive whole number"):
        check_model_folder(big)
    (big / "model.safetensors").unlink()
    (big / "model.safetensors").write_bytes(b"\xff" * 64)
    (big / "config.json").write_text('{"num_hidden_layers": 6}')
    with pytest.raises(ModelCheckError, match="not a safetensors file"):
        check_model_folder(big)
    check_model_folder(minilm_path())  # the real one passes


def test_progress_counts_only_the_files_to_parse_and_never_runs_past_its_total(tmp_path, toy, capfd):
    """Two looping links and ``sub/loop -> ..`` made the Jobs panel show "6/4 files" and an
    ETA of "-0 s"; pypdf wrote "EOF marker not found" to the console from the helper."""
    from studio_rag.jobs import progress_message

    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    latin1_file(root, b"The cafe sells espresso.")
    (root / "self1").symlink_to("self2")
    (root / "self2").symlink_to("self1")
    (root / "sub" / "loop").symlink_to("..")
    (root / "broken.pdf").write_bytes(os.urandom(2000))
    (root / "a.md").write_text("# A\n\nBoil the pasta.\n")
    (root / "sub" / "b.md").write_text("# B\n\nWater the tomatoes.\n")
    events: list[dict] = []
    store = collection(tmp_path, toy)
    report = index_sources(store, [root], toy, progress=events.append)
    skipped = dict(report.failed)
    assert report.indexed == 3 and len(skipped) == 4
    assert skipped[str(root.resolve() / "sub" / "loop")] == "a link to a folder above it (not followed)"
    assert events and events[-1]["final"] and (events[-1]["done"], events[-1]["total"]) == (4, 4)
    for event in events:
        assert 0 <= event["done"] <= event["total"] == 4 and event["eta_s"] >= 0, event
        message = progress_message(event)
        assert len(message) <= 32 and "-" not in message, message
    assert "EOF marker" not in capfd.readouterr().err
    again: list[dict] = []
    index_sources(store, [root], toy, progress=again.append)  # nothing to parse: 0/0, not 4/0
    assert [(e["done"], e["total"]) for e in again] == [(0, 0)]


def test_a_parser_that_crashes_is_failed_and_a_file_it_cannot_read_is_skipped(tmp_path, docs, toy):
    (docs / "buggy.txt").write_text("the parser trips on this one")
    (docs / "blob.txt").write_bytes(b"\0" * 100)
    store = collection(tmp_path, toy)
    index_sources(store, [docs], toy, IndexOptions(parser="studio_rag.tests.toy:buggy_parser"))
    documents = store.documents()
    root = docs.resolve()
    assert (documents[str(root / "buggy.txt")]["status"], documents[str(root / "buggy.txt")]["error"]) == (
        "failed",
        "KeyError: 'page'",
    )
    assert documents[str(root / "blob.txt")]["status"] == "skipped"


def test_a_collection_from_before_skipped_lists_its_skips_as_skipped(tmp_path, docs, toy):
    """Every document not indexed used to be "failed"; only a parser's crash was one."""
    from studio_rag.store import Source

    store = collection(tmp_path, toy)
    store.write_failure(Source("/x/broken.pdf", ""), "not a readable PDF (PdfStreamError: ended)", "failed")
    store.write_failure(Source("/x/loop.txt", ""), "a symbolic link loop (skipped)", "failed")
    store.write_failure(Source("/x/buggy.txt", ""), "KeyError: 'page'", "failed")
    store.db.execute("DELETE FROM meta WHERE key='skipped_status'")
    store.close()
    store = SQLiteStore(tmp_path / "c.rag.sqlite")
    statuses = {p: d["status"] for p, d in store.documents().items()}
    assert statuses == {"/x/broken.pdf": "skipped", "/x/loop.txt": "skipped", "/x/buggy.txt": "failed"}


def test_rebuild_replaces_only_collections_and_keeps_a_damaged_one_aside(tmp_path, docs, toy):
    """--rebuild turned any file given as the collection (a text file, another program's
    database, a folder) into a collection, and deleted a damaged one."""
    precious = tmp_path / "p.txt"
    precious.write_text("precious\n")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    other = tmp_path / "app.db"
    before = foreign_database(other)
    for path in (precious, empty, other, docs, tmp_path / "app.rag.sqlite"):
        if path.name == "app.rag.sqlite":  # another program's database, even under a collection's name
            shutil.copy(other, path)
        with pytest.raises(StoreError, match=r"--rebuild replaces only collections|not a collection file"):
            open_for_indexing(path, toy, 200, 30, rebuild=True)
    assert precious.read_text() == "precious\n" and empty.read_bytes() == b"" and other.read_bytes() == before
    assert (tmp_path / "app.rag.sqlite").read_bytes() == before and (docs / "guide.md").exists()

    damaged = tmp_path / "c.rag.sqlite"
    garbage = b"SQLite format 3\x00" + os.urandom(8000)
    damaged.write_bytes(garbage)
    with pytest.raises(StoreError, match="damaged file beside it"):
        SQLiteStore(damaged)
    store = open_for_indexing(damaged, toy, 200, 30, rebuild=True)
    assert index_sources(store, [docs], toy).indexed == 5
    store.close()
    (aside,) = tmp_path.glob("c.rag.sqlite.damaged-*")
    assert aside.read_bytes() == garbage

    store = open_for_indexing(damaged, toy, 200, 30, rebuild=True)  # a healthy collection: started afresh
    assert store.documents() == {}
    store.close()


def test_reading_works_where_sqlite_cannot_make_its_shared_memory_file(tmp_path, docs, toy, monkeypatch):
    """On a full (or read-only) disk SQLite cannot create a WAL file's -shm: reading opens
    the file as it stands; a disk error is never called damage, nor answered with --rebuild."""
    import studio_rag.store as store_module
    from studio_rag.store import DamagedCollection, DiskError, unreadable

    store = collection(tmp_path, toy)
    index_sources(store, [docs], toy)
    store.close()
    path = tmp_path / "c.rag.sqlite"
    real_connect = sqlite3.connect

    class NoSharedMemory:  # what SQLITE_IOERR_SHMSIZE looks like on the first read
        def __init__(self, *args, **kwargs):
            pass

        def execute(self, sql, *args):
            if "sqlite_master" in sql:
                raise sqlite3.OperationalError("disk I/O error")
            return self

        def close(self):
            pass

    monkeypatch.setattr(
        store_module.sqlite3,
        "connect",
        lambda target, *a, **k: real_connect(target, *a, **k) if k.get("uri") else NoSharedMemory(),
    )
    reader = SQLiteStore(path, read_only=True)
    assert len(reader.documents()) == 5 and reader.count() > 0
    hits = Searcher(reader, lambda q: toy.encode([q])[0]).search("pasta", k=1)
    assert hits and hits[0].path.endswith("guide.md")
    reader.close()
    assert sorted(p.name for p in tmp_path.glob("c.rag.sqlite*")) == ["c.rag.sqlite"]

    Path(f"{path}-wal").write_bytes(b"\x01" * 100)  # a log pending: the file alone is not the collection
    monkeypatch.setattr(store_module, "disk_full", lambda *a: True)
    with pytest.raises(DiskError, match="the disk is full") as refused:
        SQLiteStore(path, read_only=True)
    assert "--rebuild" not in str(refused.value)
    monkeypatch.undo()
    for message in ("disk I/O error", "database or disk is full", "unable to open database file"):
        error = unreadable(path, sqlite3.OperationalError(message))
        assert isinstance(error, DiskError) and "--rebuild" not in str(error), error
    assert isinstance(unreadable(path, sqlite3.DatabaseError("file is not a database")), DamagedCollection)


def test_an_embedding_api_error_prints_nothing_on_stdout(monkeypatch, capsys):
    """litellm printed its 'Give Feedback / Get Help' banner on stdout, into the JSON result."""
    from studio_rag.embedder import LiteLLMEmbedder

    for key in ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(EmbedderError, match="embedding API openai/x"):
        LiteLLMEmbedder("litellm:openai/x")
    assert capsys.readouterr().out == ""


def test_an_overlap_not_smaller_than_the_chunk_is_refused():
    from pydantic import ValidationError

    from studio_rag.config import IndexParams

    with pytest.raises(ValidationError, match="overlap 500 is not smaller than chunk_size 200"):
        IndexParams(sources=["x"], overlap=500, chunk_size=200)
    assert IndexParams(sources=["x"], overlap=199, chunk_size=200).overlap == 199
