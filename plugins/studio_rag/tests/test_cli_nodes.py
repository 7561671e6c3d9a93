"""The CLI and the jobs end to end, and the workflow nodes against the local test server."""

from __future__ import annotations

import json

import pytest

from studio_prompts.tests.conftest import fields, input_value
from studio_prompts.tests.helpers import write_workflow

TOY = "python:studio_rag.tests.toy:embedder"


def test_cli_index_search_status_remove(docs, studio_home, capsys):
    from studio.cli import main

    assert main(["rag", "index", str(docs), "-c", "notes", "--embedder", TOY]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["indexed"] == 5 and result["failed"] == 0
    assert main(["rag", "search", "boil pasta", "-c", "notes", "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert "guide.md" in out and "§ Guide › Cooking" in out and "vector #" in out
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
    assert "removed 1 documents" in capsys.readouterr().out


def test_cli_errors_are_clear(docs, studio_home, capsys, tmp_path):
    from studio.cli import main

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
    assert "no longer exists; its 1 documents stay" in capsys.readouterr().err


def test_retriever_and_tree_summary_nodes_in_a_workflow(docs, tmp_path, llm_server, monkeypatch):
    from studio_prompts import LM, Collector, context
    from studio_prompts.workflow import load_workflow

    from studio_rag.collections import open_for_indexing
    from studio_rag.index import index_sources
    from studio_rag.tests.toy import HashEmbedder

    path = tmp_path / "kb.rag.sqlite"
    index_sources(open_for_indexing(path, HashEmbedder(), 200, 30), [docs], HashEmbedder())

    def script(request):
        system = request["messages"][0]["content"]
        if "`summary`" in system.split("Your output fields")[1]:
            return fields(summary=input_value(request, "first")[:40] + " + " + input_value(request, "second")[:40])
        return fields(answer="from: " + input_value(request, "context")[:60])

    llm_server.reset(script=script)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    lm = LM("openai/fake-model", api_base=llm_server.url, retries=1, timeout=5)
    nodes = {"search": {"type": "rag.retrieve", "inputs": {"query": "input.question"},
                        "params": {"collection": str(path), "k": 4, "mode": "hybrid"}},
             "summary": {"type": "rag.summarize", "inputs": {"question": "input.question",
                                                              "passages": "search.passages"}, "params": {}}}
    flow = write_workflow(tmp_path / "rag.workflow.json", nodes=nodes, inputs={"question": "str"},
                          outputs={"answer": "summary.answer", "sources": "search.sources",
                                   "levels": "summary.levels"})
    workflow = load_workflow(flow)
    trace = Collector()
    with context(lm=lm, tracer=trace):
        out = workflow(question="boil pasta minutes")
    assert out["levels"] == 2 and out["answer"].startswith("from: ")
    assert out["sources"][0].startswith(str(docs.resolve() / "guide.md"))
    calls = [s for s in trace.spans if s["kind"] == "llm"]
    assert len(calls) == 4  # 4 passages: 2 + 1 merges, then the answer
    node = next(s for s in trace.spans if s["kind"] == "node" and s["name"] == "summary")
    predictors = [s for s in trace.spans if s["kind"] == "predictor"]
    assert all(p["parent"] == node["id"] for p in predictors)  # each step traced under its node


def test_collection_by_name_resolves_in_the_active_workspace(docs, make_studio, tmp_path):
    from studio_rag.collections import collection_path

    studio = make_studio()
    assert collection_path("kb") == studio.workspace.root / "rag" / "kb.rag.sqlite"
    with pytest.raises(Exception, match="collection name"):
        collection_path("bad name!")


def test_the_sample_rag_workflow_runs_on_a_collection_in_the_workspace(docs, make_studio, llm_server, monkeypatch):
    from pathlib import Path

    from studio_prompts import LM, context
    from studio_prompts.workflow import load_workflow

    from studio_rag.collections import collection_path, open_for_indexing
    from studio_rag.index import index_sources
    from studio_rag.tests.toy import HashEmbedder

    make_studio()  # its workspace is the active one: the workflow finds "python-docs" there
    index_sources(open_for_indexing(collection_path("python-docs"), HashEmbedder(), 200, 30), [docs], HashEmbedder())
    llm_server.reset(script=lambda r: fields(reasoning="the passages say so",
                                             answer="Lisbon" if "Lisbon" in r["messages"][-1]["content"] else "?"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    sample = Path(__file__).resolve().parents[3] / "resources" / "workflows" / "docs-rag.workflow.json"
    with context(lm=LM("openai/fake-model", api_base=llm_server.url, retries=1, timeout=5)):
        out = load_workflow(sample)(question="Where is rain expected tomorrow?")
    assert out["answer"] == "Lisbon" and out["sources"][0].split(":")[0].endswith("page.html")


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
    from studio_rag.collections import open_for_indexing
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
