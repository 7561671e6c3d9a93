"""A collection file is data: the embedder it records runs only when the person searching
names it, and a plugin folder that is not a folder (or cannot be read) is said in one line."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from studio_rag import embedder as embedders
from studio_rag.collection_files import open_for_indexing
from studio_rag.embedder import EmbedderError, EmbedderNotNamed, check_recorded
from studio_rag.index import check_sources, index_sources
from studio_rag.store import SQLiteStore, StoreError, check_folder

from .toy import NOT_A_FOLDER, HashEmbedder, not_a_folder

EVIL = "python:evil_embed:make"


class Recorded(HashEmbedder):
    """The toy embedder, recorded in the file under another spec."""

    def __init__(self, spec: str):
        self.spec = spec


@pytest.fixture
def evil(tmp_path, docs, monkeypatch):
    """A collection whose file records ``python:evil_embed:make``: a module on the path
    that leaves a mark when it is imported."""
    code = tmp_path / "code"
    code.mkdir()
    mark = tmp_path / "ran"
    (code / "evil_embed.py").write_text(
        f"from pathlib import Path\nPath({str(mark)!r}).write_text('imported')\n"
        "from studio_rag.tests.toy import HashEmbedder\n\n\n"
        f"class Evil(HashEmbedder):\n    spec = {EVIL!r}\n\n\ndef make():\n    return Evil()\n"
    )
    monkeypatch.syspath_prepend(str(code))
    monkeypatch.setattr(embedders, "_named", set())
    path = tmp_path / "shared.rag.sqlite"
    store = open_for_indexing(path, Recorded(EVIL), 200, 30)
    index_sources(store, [docs], Recorded(EVIL))
    store.close()
    yield path, mark
    sys.modules.pop("evil_embed", None)


def test_a_collection_that_records_python_code_does_not_run_it(evil):
    from studio_rag.search import open_searcher

    path, mark = evil
    with pytest.raises(EmbedderNotNamed) as refused:
        open_searcher(path)
    assert str(refused.value) == (
        "collection 'shared' was indexed with Python code as its embedder (python:evil_embed:make); it runs "
        "only if you name it: --embedder python:evil_embed:make"
    )
    assert isinstance(refused.value, EmbedderError) and not mark.exists() and "evil_embed" not in sys.modules
    hits = open_searcher(path, need_vectors=False).search("pasta", mode="keyword")  # no embedder needed
    assert hits[0].path.endswith("guide.md") and not mark.exists()
    with pytest.raises(EmbedderError, match="--embedder minilm is another one"):
        open_searcher(path, embedder="minilm")
    hits = open_searcher(path, embedder=EVIL).search("boil pasta", k=1)  # named: it runs
    assert hits[0].path.endswith("guide.md") and mark.exists()


def test_only_code_and_servers_need_naming(tmp_path, monkeypatch):
    monkeypatch.setattr(embedders, "_named", set())
    for spec in ("minilm", str(tmp_path), "litellm:openai/text-embedding-3-small"):
        assert check_recorded(spec, "c") == spec
    with pytest.raises(EmbedderNotNamed, match=r"an embedding API at a server it names .*--embedder litellm:"):
        check_recorded("litellm:openai/x|http://203.0.113.9:8000", "c")
    with pytest.raises(EmbedderError, match="records no embedder"):
        check_recorded(None, "c")
    embedders.allow_embedder(EVIL)  # named in Python, as the command line's --embedder does
    assert check_recorded(EVIL, "c") == EVIL


def test_a_workflow_node_refuses_it_and_says_how_to_search(evil):
    from studio_rag import nodes

    path, mark = evil
    with pytest.raises(EmbedderNotNamed, match=r"a workflow does not run it .*--embedder python:evil_embed:make"):
        asyncio.run(nodes.retrieve({"collection": str(path), "mode": "hybrid"}, {"query": "pasta"}))
    assert not mark.exists()
    out = asyncio.run(nodes.retrieve({"collection": str(path), "mode": "keyword"}, {"query": "pasta"}))
    assert out["sources"][0].split(":")[0].endswith("guide.md") and not mark.exists()


def test_the_panels_query_helper_refuses_it_before_starting(evil):
    from studio_rag.query_pool import QueryEncoder

    _, mark = evil
    encoder = QueryEncoder()
    future = encoder.submit(EVIL, "fp32", "pasta")
    assert future.done() and not encoder.warm and not mark.exists()  # no helper process started
    assert isinstance(future.exception(), EmbedderNotNamed)
    assert "--embedder python:evil_embed:make" in str(future.exception())


# ---- the plugin's folder is not a folder


@pytest.mark.parametrize("kind", NOT_A_FOLDER)
def test_a_collections_folder_that_is_not_a_folder_is_said(tmp_path, docs, kind):
    folder = tmp_path / "rag"
    not_a_folder(kind, folder)
    message = f"{folder} is not a folder; move it away"
    with pytest.raises(StoreError, match=message):
        check_folder(folder)
    with pytest.raises(StoreError, match=message):
        SQLiteStore(folder / "docs.rag.sqlite", read_only=True)
    with pytest.raises(StoreError, match=message):
        check_sources(folder / "docs.rag.sqlite", [docs])
    with pytest.raises(StoreError, match=message):
        SQLiteStore(folder / "docs.rag.sqlite", create_with={"embedder": "x", "dim": 4})
    check_folder(tmp_path / "not-made-yet")  # made when written


def test_a_folder_the_system_refuses_is_said_in_one_line(tmp_path, monkeypatch):
    folder = tmp_path / "rag"
    folder.mkdir()

    def refused(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "scandir", refused)
    with pytest.raises(StoreError, match=f"^cannot read {folder}: permission denied$"):
        check_folder(folder)
