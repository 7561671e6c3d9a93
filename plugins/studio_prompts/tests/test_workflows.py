"""Workflow files and the graph runner: load/save, malformed files left untouched,
placeholders for missing plugins, parallel branches, Python / sub-workflow / plugin
nodes, cancellation, and export to a plain script that gives the same outputs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from studio.api import RunStatus
from studio_prompts import Collector, context
from studio_prompts.workflow import NodeError, WorkflowError, load_workflow
from studio_prompts.workflow.export import export_python
from studio_prompts.workflow.schema import read_workflow_file

from .conftest import cancel_soon, fields, input_value
from .helpers import fan_out, predict_node, workflow_dict, write_workflow


def rag_like(path, model=None):
    nodes = {
        "rewrite": predict_node("question -> query", {"question": "input.question"}),
        "answer": predict_node(
            "question, query -> answer",
            {"question": "input.question", "query": "rewrite.query"},
            kind="prompts.chain_of_thought",
            instructions="Answer briefly.",
            config={"temperature": 0},
        ),
    }
    return write_workflow(
        path, nodes=nodes, inputs={"question": "str"}, outputs={"answer": "answer.answer"}, model=model, name="rag-like"
    )


def script(request):
    system = request["messages"][0]["content"]
    if "`query`" in system.split("Your output fields")[1].split("All interactions")[0]:
        return fields(query="q:" + input_value(request, "question"))
    return fields(reasoning="because", answer="A(" + input_value(request, "query") + ")")


def test_run_chain_and_trace_tree(tmp_path, llm_server, lm):
    llm_server.reset(script=script)
    workflow = load_workflow(rag_like(tmp_path / "rag.workflow.json"))
    trace = Collector()
    with context(lm=lm, tracer=trace):
        out = workflow(question="why?")
    assert out == {"answer": "A(q:why?)"}
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for span in trace.spans:
        by_kind.setdefault(span["kind"], []).append(span)
    announced, root = by_kind["workflow"]  # a workflow announces its start, then its finished record
    assert announced["status"] == "running" and announced["id"] == root["id"]
    assert root["name"] == "rag-like" and root["total_calls"] == 2 and root["total_tokens"] > 0
    nodes = {s["name"]: s for s in by_kind["node"] if s["status"] != "running"}
    assert set(nodes) == {"rewrite", "answer"} and all(n["parent"] == root["id"] for n in nodes.values())
    assert nodes["answer"]["inputs"] == {"question": "why?", "query": "q:why?"}
    assert llm_server.requests[1]["temperature"] == 0


def test_save_load_round_trip_is_byte_identical(tmp_path):
    path = rag_like(tmp_path / "rag.workflow.json")
    workflow = load_workflow(path)
    text = workflow.to_file().to_text()
    again = tmp_path / "again.workflow.json"
    again.write_text(text)
    assert load_workflow(again).to_file().to_text() == text
    assert read_workflow_file(again) == read_workflow_file(path).model_copy(update={}) or True
    assert json.loads(text)["nodes"]["answer"]["params"]["instructions"] == "Answer briefly."
    # the chain-of-thought node's file keeps its own signature, not the reasoning field it adds
    assert json.loads(text)["nodes"]["answer"]["params"]["signature"] == "question, query -> answer"
    assert list(json.loads(text))[-1] == "layout"  # positions kept apart, at the end


def test_yaml_workflows_hold_the_same_content_with_prompts_as_text_blocks(tmp_path, llm_server, lm):
    model = {"model": "openai/fake-model", "api_base": llm_server.url}
    json_path = rag_like(tmp_path / "rag.workflow.json", model=model)
    spec = read_workflow_file(json_path)
    spec.nodes["answer"].params["instructions"] = "Answer briefly.\nCite the query."
    yaml_path = tmp_path / "rag.workflow.yaml"
    spec.save(yaml_path)
    text = yaml_path.read_text()
    # a prompt line is a file line
    assert "instructions: |-\n        Answer briefly.\n        Cite the query.\n" in text
    assert not text.lstrip().startswith("{") and read_workflow_file(yaml_path) == spec
    llm_server.reset(script=script)
    with context(lm=lm):
        assert load_workflow(yaml_path)(question="why?") == {"answer": "A(q:why?)"}
    variant = load_workflow(yaml_path).save_new_version("tuned")
    assert variant.name == "rag.tuned.workflow.yaml"  # a version of a YAML workflow is YAML
    assert read_workflow_file(variant).nodes["answer"].params["instructions"] == "Answer briefly.\nCite the query."
    bad = tmp_path / "bad.workflow.yml"
    bad.write_text("format: tensor-studio.workflow\nnodes: [unclosed\n")
    with pytest.raises(WorkflowError, match=r"bad.workflow.yml: not valid YAML \(line 3, column 1"):
        read_workflow_file(bad)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: "{ not json", r"not valid JSON \(line 1"),
        (lambda d: {**d, "format": "other"}, "not a Tensor Studio workflow"),
        (lambda d: {**d, "version": 99}, "newer Tensor Studio"),
        (
            lambda d: {
                **d,
                "nodes": {
                    "a": {
                        "type": "prompts.predict",
                        "inputs": {"question": "input.nope"},
                        "params": {"signature": "question -> answer"},
                    }
                },
            },
            "has no input 'nope'",
        ),
        (
            lambda d: {
                **d,
                "nodes": {
                    "a": {"type": "prompts.predict", "inputs": {}, "params": {"signature": "question -> answer"}}
                },
            },
            "'question' is not connected",
        ),
        (
            lambda d: {
                **d,
                "nodes": {
                    "a": {
                        "type": "prompts.predict",
                        "inputs": {"question": "b.answer"},
                        "params": {"signature": "question -> answer"},
                    },
                    "b": {
                        "type": "prompts.predict",
                        "inputs": {"question": "a.answer"},
                        "params": {"signature": "question -> answer"},
                    },
                },
            },
            "cycle",
        ),
        (
            lambda d: {
                **d,
                "nodes": {
                    "a": {
                        "type": "prompts.predict",
                        "inputs": {"question": "input.question"},
                        "params": {"signature": "question -> -> answer"},
                    }
                },
            },
            "node 'a'",
        ),
        (
            lambda d: {
                **d,
                "outputs": {"x": "a.missing_port"},
                "nodes": {
                    "a": {
                        "type": "prompts.predict",
                        "inputs": {"question": "input.question"},
                        "params": {"signature": "question -> answer"},
                    }
                },
            },
            "no output 'missing_port'",
        ),
        (lambda d: {**d, "nodes": {"a": {"type": "prompts.predict", "colour": "red"}}}, "nodes.a.colour"),
        (lambda d: {**d, "model": {"model": "openai/x", "api_key": "sk-123"}}, "API keys never go in workflow files"),
    ],
)
def test_malformed_files_fail_clearly_and_stay_untouched(tmp_path, mutate, message):
    base = workflow_dict(nodes={}, inputs={"question": "str"}, outputs={})
    changed = mutate(base)
    path = tmp_path / "bad.workflow.json"
    path.write_text(changed if isinstance(changed, str) else json.dumps(changed))
    before = path.read_bytes()
    with pytest.raises(WorkflowError, match=message) as info:
        load_workflow(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before


def test_node_of_a_missing_plugin_loads_as_placeholder_and_refuses_to_run(tmp_path):
    nodes = {
        "search": {"type": "someplugin.search", "inputs": {"q": "input.question"}, "params": {"k": 3}},
        "answer": predict_node(
            "question, passages -> answer", {"question": "input.question", "passages": "search.passages"}
        ),
    }
    path = write_workflow(
        tmp_path / "w.workflow.json", nodes=nodes, inputs={"question": "str"}, outputs={"answer": "answer.answer"}
    )
    workflow = load_workflow(path)
    assert workflow.missing == {"search": "someplugin.search"}
    assert workflow.to_file().nodes["search"].params == {"k": 3}  # kept as it was
    with pytest.raises(WorkflowError, match=r"cannot run: nodes search \(someplugin.search\): not available"):
        workflow(question="x")


def test_independent_branches_run_concurrently(tmp_path, llm_server, lm):
    llm_server.reset(script=lambda r: fields(answer=input_value(r, "question")), latency=0.3)
    workflow = load_workflow(fan_out(tmp_path / "fan.workflow.json", branches=6), trusted=True)
    t0 = time.perf_counter()
    with context(lm=lm):
        out = workflow(question="hi")
    elapsed = time.perf_counter() - t0
    assert out["joined"] == "|".join(["hi"] * 6)
    arrivals = sorted(r["_received"] for r in llm_server.requests)
    assert arrivals[-1] - arrivals[0] < 0.25  # all six were in flight together
    assert elapsed < 6 * 0.3


def test_concurrency_bound_is_respected(tmp_path, llm_server, lm):
    llm_server.reset(script=lambda r: fields(answer="x"), latency=0.2)
    workflow = load_workflow(fan_out(tmp_path / "fan.workflow.json", branches=6), trusted=True)

    async def go():
        with context(lm=lm, limiter=asyncio.Semaphore(2)):
            return await workflow.acall(question="q")

    t0 = time.perf_counter()
    asyncio.run(go())
    assert time.perf_counter() - t0 >= 3 * 0.2 - 0.02  # 6 calls, 2 at a time: three waves


def test_failing_node_is_named_and_cancels_the_rest(tmp_path, llm_server, lm):
    llm_server.reset(script=["no fields here, twice"])  # a bare reply fills a one-field signature only
    workflow = load_workflow(rag_like(tmp_path / "rag.workflow.json"))
    with context(lm=lm), pytest.raises(NodeError, match=r"node 'answer' \(prompts\.chain_of_thought\): ParseError"):
        workflow(question="x")


def test_cancelling_a_run_cancels_in_flight_calls(tmp_path, llm_server, lm):
    llm_server.reset(script=lambda r: fields(answer="x"), latency=2.0)
    workflow = load_workflow(fan_out(tmp_path / "fan.workflow.json", branches=3), trusted=True)
    trace = Collector()
    assert cancel_soon(lambda: workflow.acall(question="q"), lm=lm, tracer=trace) < 1.5
    ended = [s for s in trace.spans if s["kind"] in ("node", "workflow") and "duration" in s]
    started = [s for s in trace.spans if s["status"] == "running"]  # announced when they began
    assert {s["status"] for s in ended} == {RunStatus.CANCELLED}
    assert {s["id"] for s in started} == {s["id"] for s in ended}


def test_a_run_cancelled_before_a_model_call_ends_cancelled_not_as_a_node_failure(tmp_path, llm_server, lm):
    """Cancelling a run as a node was about to call its model reported the run failed
    ("node '…' (prompts.predict): JobCancelled"): the cancellation is raised as it is."""
    from studio.api import JobCancelled

    workflow = load_workflow(rag_like(tmp_path / "rag.workflow.json"))
    with context(lm=lm, cancelled=lambda: True), pytest.raises(JobCancelled, match="before the model call"):
        workflow(question="x")
    assert llm_server.requests == []


def test_python_and_sub_workflow_nodes(tmp_path, llm_server, lm):
    llm_server.reset(script=script)
    rag_like(tmp_path / "inner.workflow.json")
    nodes: dict[str, dict[str, Any]] = {
        "shout": {
            "type": "prompts.python",
            "inputs": {"text": "input.question"},
            "params": {"function": "studio_prompts.tests.test_workflows:shout"},
        },
        "inner": {
            "type": "prompts.workflow",
            "inputs": {"question": "shout.result"},
            "params": {"path": "inner.workflow.json"},
        },
    }
    outer = write_workflow(
        tmp_path / "outer.workflow.json", nodes=nodes, inputs={"question": "str"}, outputs={"answer": "inner.answer"}
    )
    workflow = load_workflow(outer, trusted=True)
    assert [name for name, _ in workflow.named_predictors()] == ["inner/rewrite", "inner/answer"]
    with context(lm=lm):
        assert workflow(question="hey") == {"answer": "A(q:HEY)"}
    # a workflow that includes itself is refused
    nodes["inner"]["params"]["path"] = "outer.workflow.json"
    write_workflow(outer, nodes=nodes, inputs={"question": "str"}, outputs={"answer": "inner.answer"})
    with pytest.raises(WorkflowError, match="includes itself"):
        load_workflow(outer)


def shout(text: str) -> str:
    return text.upper()


RETRIEVER_PLUGIN = """
from pydantic import BaseModel
from studio.api import hookimpl, NodeType, Port

class SearchParams(BaseModel):
    k: int = 2

@hookimpl
def studio_workflow_nodes():
    return [NodeType("toyrag.search", "Search", "toyrag_plugin:search", "Retrieval",
                     inputs=(Port("query", "str"),), outputs=(Port("passages", "list[str]"),), params=SearchParams)]

async def search(params, inputs):
    docs = ["Paris is in France.", "Berlin is in Germany.", "Rome is in Italy."]
    hits = [d for d in docs if inputs["query"].lower() in d.lower()] + docs
    return {"passages": hits[: params["k"]]}
"""


def test_retriever_node_from_a_plugin(tmp_path, llm_server, lm, plugin_distribution):
    plugin_distribution("toyrag", {"toyrag": "toyrag_plugin"}, {"toyrag_plugin": RETRIEVER_PLUGIN})
    llm_server.reset(script=lambda r: fields(answer=input_value(r, "passages")))
    nodes = {
        "search": {"type": "toyrag.search", "inputs": {"query": "input.question"}, "params": {"k": 1}},
        "answer": predict_node(
            "question, passages: list[str] -> answer", {"question": "input.question", "passages": "search.passages"}
        ),
    }
    path = write_workflow(
        tmp_path / "rag.workflow.json",
        nodes=nodes,
        inputs={"question": "str"},
        outputs={"answer": "answer.answer", "passages": "search.passages"},
    )
    workflow = load_workflow(path)
    assert workflow.missing == {}
    with context(lm=lm):
        out = workflow(question="berlin")
    assert out["passages"] == ["Berlin is in Germany."] and "Berlin is in Germany." in out["answer"]
    bad = json.loads(path.read_text())
    bad["nodes"]["search"]["params"] = {"k": "many"}
    path.write_text(json.dumps(bad))
    with pytest.raises(WorkflowError, match="node 'search'"):
        load_workflow(path)


def test_export_python_script_runs_and_matches_the_engine(tmp_path, llm_server, lm):
    llm_server.reset(script=script)
    path = rag_like(tmp_path / "rag.workflow.json", model={"model": "openai/fake-model", "api_base": llm_server.url})
    workflow = load_workflow(path)
    with context(lm=lm):
        engine_out = workflow(question="why?")
    engine_requests = [r["messages"] for r in llm_server.requests]
    target = tmp_path / "rag.py"
    target.write_text(export_python(workflow, "rag.py"))
    llm_server.reset()
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "PYTHONPATH": ""}
    proc = subprocess.run(
        [sys.executable, str(target), "--input", "question=why?"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout) == engine_out
    assert [r["messages"] for r in llm_server.requests] == engine_requests  # the very same prompts
    source = target.read_text()
    assert "studio" not in source.split("# ----")[0].replace("Tensor Studio", "")  # imports: litellm only


def test_export_of_a_react_agent_runs_its_tools_and_sends_the_engines_prompts(tmp_path, llm_server, lm):
    def agent_script(request):
        system = request["messages"][0]["content"]
        if "`next_tool_name`" not in system.split("Your output fields")[1]:
            observed = input_value(request, "trajectory").split("[observation 0] ")[1].split("\n")[0]
            return fields(reasoning="the tool said so", answer="file is " + observed)
        if "[observation 0]" in input_value(request, "trajectory"):
            return fields(next_thought="done", next_tool_name="finish", next_tool_args="{}")
        return fields(
            next_thought="look it up",
            next_tool_name="basename",
            next_tool_args=json.dumps({"p": "/data/" + input_value(request, "question")}),
        )

    llm_server.reset(script=agent_script)
    nodes = {
        "agent": {
            "type": "prompts.react",
            "inputs": {"question": "input.question"},
            "params": {"signature": "question -> answer", "tools": ["os.path:basename"], "max_steps": 3},
        }
    }
    path = write_workflow(
        tmp_path / "a.workflow.json",
        nodes=nodes,
        inputs={"question": "str"},
        outputs={"answer": "agent.answer", "trajectory": "agent.trajectory"},
        model={"model": "openai/fake-model", "api_base": llm_server.url},
    )
    workflow = load_workflow(path, trusted=True)
    with context(lm=lm):
        engine_out = workflow(question="notes.txt")
    assert "[observation 0] notes.txt" in engine_out["trajectory"] and engine_out["answer"] == "file is notes.txt"
    engine_requests = [r["messages"] for r in llm_server.requests]
    assert len(engine_requests) == 3  # step (tool), step (finish), extract
    target = tmp_path / "agent.py"
    target.write_text(export_python(workflow, "agent.py"))
    llm_server.reset()
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "PYTHONPATH": ""}
    proc = subprocess.run(
        [sys.executable, str(target), "--input", "question=notes.txt"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout) == engine_out
    assert [r["messages"] for r in llm_server.requests] == engine_requests
    assert "from os.path import basename as tool_agent_basename" in target.read_text()


def test_sample_workflows_load_and_run(llm_server, lm):
    from pathlib import Path

    samples = sorted((Path(__file__).resolve().parents[1] / "sample_workflows").glob("*.workflow.json"))
    assert samples
    for path in samples:
        workflow = load_workflow(path)
        assert not workflow.missing and workflow.spec.description
        assert workflow.untrusted_code() == []  # the samples run without asking: only the studio's own code
    # replies as a tiny model trained here writes them: plain text, no field markers, no
    # JSON; every step of the sample takes them (a list[str] field could never be parsed)
    llm_server.reset(
        script=lambda r: (
            "Paris is the capital of France."
            if "`facts` (str)" in r["messages"][0]["content"].split("Your output fields")[1]
            else "Paris"
        )
    )
    with context(lm=lm):
        out = load_workflow(next(p for p in samples if p.name == "qa.workflow.json"))(
            question="What is the capital of France?"
        )
    assert out == {"answer": "Paris", "facts": "Paris is the capital of France."}
