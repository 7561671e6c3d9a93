"""The RAG plugin's workflow nodes in workflows of the prompt engine: a retriever and a tree
summary against the local test server, and the sample RAG workflow on a collection of the
active workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio_prompts import LM, Collector, context
from studio_prompts.tests.conftest import fields, input_value
from studio_prompts.tests.helpers import write_workflow
from studio_prompts.workflow import load_workflow
from studio_rag.collection_files import collection_path, open_for_indexing
from studio_rag.index import index_sources
from studio_rag.tests.conftest import DOCS
from studio_rag.tests.toy import HashEmbedder


@pytest.fixture(autouse=True)
def named_toy(monkeypatch):
    """The toy embedder is Python code: a collection recorded with it is searched only once
    it is named (as `rag search --embedder` names it), here in Python."""
    from studio_rag import embedder

    monkeypatch.setattr(embedder, "_named", set())
    embedder.allow_embedder(HashEmbedder.spec)


@pytest.fixture
def docs(tmp_path):
    root = tmp_path / "docs"
    for name, text in DOCS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_retriever_and_tree_summary_nodes_in_a_workflow(docs, tmp_path, llm_server, monkeypatch):
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
    nodes = {
        "search": {
            "type": "rag.retrieve",
            "inputs": {"query": "input.question"},
            "params": {"collection": str(path), "k": 4, "mode": "hybrid"},
        },
        "summary": {
            "type": "rag.summarize",
            "inputs": {"question": "input.question", "passages": "search.passages"},
            "params": {},
        },
    }
    flow = write_workflow(
        tmp_path / "rag.workflow.json",
        nodes=nodes,
        inputs={"question": "str"},
        outputs={"answer": "summary.answer", "sources": "search.sources", "levels": "summary.levels"},
    )
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


def test_the_sample_rag_workflow_runs_on_a_collection_in_the_workspace(docs, make_studio, llm_server, monkeypatch):
    make_studio()  # its workspace is the active one: the workflow finds "python-docs" there
    index_sources(open_for_indexing(collection_path("python-docs"), HashEmbedder(), 200, 30), [docs], HashEmbedder())
    llm_server.reset(
        script=lambda r: fields(
            reasoning="the passages say so", answer="Lisbon" if "Lisbon" in r["messages"][-1]["content"] else "?"
        )
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    sample = (
        Path(__file__).resolve().parents[2]
        / "plugins"
        / "studio_prompts"
        / "sample_workflows"
        / "docs-rag.workflow.json"
    )
    with context(lm=LM("openai/fake-model", api_base=llm_server.url, retries=1, timeout=5)):
        out = load_workflow(sample)(question="Where is rain expected tomorrow?")
    assert out["answer"] == "Lisbon" and out["sources"][0].split(":")[0].endswith("page.html")
