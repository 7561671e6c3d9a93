"""The CLI and the jobs end to end, and the workflow nodes on their own (in workflows of the
prompt engine: tests/integration/test_rag_and_prompts.py)."""

from __future__ import annotations

import json

import pytest

TOY = "python:studio_rag.tests.toy:embedder"


def test_cli_index_search_status_remove(docs, studio_home, capsys):
    from studio.testing import run_cli as main

    assert main(["rag", "index", str(docs), "-c", "notes", "--embedder", TOY]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["indexed"] == 5 and result["failed"] == 0
    assert main(["rag", "search", "boil pasta", "-c", "notes", "-k", "2"]) == 2  # the toy embedder is code
    assert "it runs only if you name it: --embedder python:studio_rag.tests.toy:embedder" in capsys.readouterr().err
    assert main(["rag", "search", "boil pasta", "-c", "notes", "-k", "2", "--embedder", TOY]) == 0
    out = capsys.readouterr().out
    assert "guide.md" in out and "§ Guide › Cooking" in out and "vector #" in out
    assert out.startswith("1. best match  ") and "\n2. " in out and "; score 0." in out  # a rank, not 0.0328
    assert main(["rag", "search", "pasta", "-c", "notes", "--mode", "keyword", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["path"].endswith("guide.md") and hits[0]["keyword_rank"] == 1
    assert main(["rag", "status"]) == 0
    assert "notes" in capsys.readouterr().out
    assert main(["rag", "status", "-c", "notes"]) == 0
    assert "indexed" in capsys.readouterr().out
    assert main(["rag", "index", str(docs), "-c", "notes", "--embedder", TOY]) == 0  # nothing changed
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["unchanged"] == 5
    assert main(["rag", "remove", str(docs / "sub"), "-c", "notes"]) == 0
    assert "removed 1 document from" in capsys.readouterr().out


def test_cli_errors_are_clear(docs, studio_home, capsys, tmp_path):
    from studio.testing import run_cli as main

    assert main(["rag", "index", str(docs), "-c", "notes", "--embedder", TOY]) == 0
    capsys.readouterr()
    assert main(["rag", "index", str(docs), "-c", "notes"]) == 1  # the default embedder is another one
    assert "built with the embedder" in capsys.readouterr().err
    assert main(["rag", "search", "x", "-c", "nothing-here"]) == 2
    assert "no such collection" in capsys.readouterr().err
    assert main(["rag", "index", str(tmp_path / "missing"), "-c", "notes", "--embedder", TOY]) == 2
    assert "no such folder or file" in capsys.readouterr().err  # refused before a job starts
    (docs / "sub" / "deep.rst").unlink()
    (docs / "sub").rmdir()
    assert main(["rag", "index", str(docs / "sub"), "-c", "notes", "--embedder", TOY]) == 2
    assert "no longer exists; its 1 document stays" in capsys.readouterr().err


def test_collection_by_name_resolves_in_the_active_workspace(docs, make_studio, tmp_path):
    from studio.api import Folders
    from studio_rag.collection_files import collection_path

    studio = make_studio()
    assert collection_path("kb") == Folders(studio.workspace.root).plugin_dir("rag", create=False) / "kb.rag.sqlite"
    with pytest.raises(Exception, match="collection name"):
        collection_path("bad name!")


def test_a_missing_collection_says_how_to_build_it(make_studio):
    import asyncio

    from studio_rag.nodes import retrieve
    from studio_rag.store import StoreError

    make_studio()
    with pytest.raises(StoreError, match="rag sample"):
        asyncio.run(retrieve({"collection": "python-docs"}, {"query": "x"}))
    with pytest.raises(StoreError, match="rag index FOLDER -c mine"):
        asyncio.run(retrieve({"collection": "mine"}, {"query": "x"}))


def test_an_embedding_api_through_litellm(docs, tmp_path, llm_server, monkeypatch):
    from studio_rag.collection_files import open_for_indexing
    from studio_rag.embedder import EmbedderError, open_embedder
    from studio_rag.index import index_sources
    from studio_rag.search import Searcher

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    embedder = open_embedder(f"litellm:openai/text-embedding-fake|{llm_server.url}")
    assert embedder.dim == 32
    store = open_for_indexing(tmp_path / "api.rag.sqlite", embedder, 200, 30)
    assert index_sources(store, [docs], embedder).indexed == 5
    hits = Searcher(store, lambda q: embedder.encode([q])[0]).search("rain Lisbon", k=1, mode="vector")
    assert "Lisbon" in hits[0].text
    assert all("sk-test" not in str(r) for r in llm_server.requests)
    with pytest.raises(EmbedderError, match="embedding API"):
        open_embedder("litellm:openai/text-embedding-fake|http://127.0.0.1:9")  # nothing listens there
