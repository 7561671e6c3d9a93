"""Workflow files someone sent you: the Python code they name (function nodes, ReAct
tools, signature types, a metric in a job's parameters, a module whose import does something) never runs
without consent, and showing or exporting them imports nothing; malformed files are one
``error:`` line with exit 2."""

from __future__ import annotations

import json

import pytest

from .conftest import expect_failed, expect_ok, expect_refused

SIDEFX = '''
import pathlib
pathlib.Path({marker!r}).write_text("imported")


def shout(text):
    """Upper-case the text."""
    return text.upper()


def score(example, prediction):
    return 1.0
'''


def workflow(path, nodes, inputs=("question",), outputs=None, name="w"):
    path.write_text(json.dumps({"format": "tensor-studio.workflow", "version": 1, "name": name,
                                "inputs": {n: {"type": "str"} for n in inputs}, "outputs": outputs or {},
                                "nodes": nodes}))
    return path


@pytest.fixture
def sidefx(tmp_path):
    """A module on PYTHONPATH whose top-level code writes a marker file."""
    folder = tmp_path / "modules"
    folder.mkdir()
    marker = tmp_path / "imported.marker"
    (folder / "sidefx.py").write_text(SIDEFX.format(marker=str(marker)))
    return {"PYTHONPATH": str(folder)}, marker


def test_an_os_system_node_runs_only_with_trust(cli, tmp_path):
    pwned = tmp_path / "pwned"
    path = workflow(tmp_path / "evil.workflow.json",
                    {"f": {"type": "prompts.python", "inputs": {"command": "input.cmd"},
                           "params": {"function": "os:system"}}}, inputs=("cmd",), outputs={"status": "f.result"})
    touch = f"cmd=touch {pwned}"
    expect_refused(cli("workflow", "run", path, "--input", touch), "os:system", "function of node 'f'", "--trust")
    assert "os:system" in expect_ok(cli("workflow", "show", path)).out
    # the job itself refuses: `jobs run` is no way around the question
    expect_failed(cli("jobs", "run", "prompts.run", "--set", f"workflow={path}", "--set", f"inputs.cmd=touch {pwned}"),
                  "os:system", "trusted=")
    assert not pwned.exists()
    expect_ok(cli("workflow", "run", path, "--input", touch, "--trust", "--quiet"))
    assert pwned.exists()


def test_show_and_export_of_tools_and_sub_workflows_import_nothing(cli, tmp_path, sidefx):
    env, marker = sidefx
    workflow(tmp_path / "sub.workflow.json", {"inner": {"type": "prompts.python", "inputs": {"text": "input.question"},
                                                        "params": {"function": "sidefx:shout"}}},
             outputs={"loud": "inner.result"}, name="sub")
    path = workflow(tmp_path / "agent.workflow.json", {
        "agent": {"type": "prompts.react", "inputs": {"question": "input.question"},
                  "params": {"signature": "question -> answer: sidefx.Answer", "tools": ["sidefx:shout"]}},
        "sub": {"type": "prompts.workflow", "inputs": {"question": "agent.answer"},
                "params": {"path": "sub.workflow.json"}}}, outputs={"out": "sub.loud"})
    shown = expect_ok(cli("workflow", "show", path, env=env)).out
    assert "tool of ReAct node 'agent'" in shown and "function of node 'inner' in sub.workflow.json" in shown
    assert "sidefx.Answer" in shown  # a class a signature names is code too
    expect_ok(cli("workflow", "export-python", path, "-o", tmp_path / "agent.py", env=env))
    assert "from sidefx import shout as tool_agent_shout" in (tmp_path / "agent.py").read_text()
    expect_refused(cli("workflow", "run", path, "--input", "question=hi", env=env), "sidefx:shout", "--trust")
    assert not marker.exists()


def test_a_metric_from_a_params_file_needs_consent_one_typed_is_the_users(cli, tmp_path, sidefx):
    env, marker = sidefx
    path = workflow(tmp_path / "echo.workflow.json", {}, outputs={"question": "input.question"})
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "a"}\n')
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"workflow": str(path), "data": str(data), "metric": "sidefx:score"}))
    expect_failed(cli("jobs", "run", "prompts.eval", "--params", params, env=env), "sidefx:score (metric)")
    assert not marker.exists()
    expect_ok(cli("workflow", "eval", path, "--data", data, "--metric", "sidefx:score", "--quiet", env=env))
    assert marker.exists()


def test_malformed_workflow_files_are_one_line(cli, tmp_path):
    not_json = tmp_path / "a.workflow.json"
    not_json.write_text("{ not json")
    expect_refused(cli("workflow", "show", not_json), "not valid JSON")
    schema = workflow(tmp_path / "b.workflow.json", {"a": 1})
    expect_refused(cli("workflow", "run", schema, "--input", "question=x"), "nodes.a")
    sub = {"type": "prompts.workflow", "inputs": {"question": "input.question"}}
    workflow(tmp_path / "c.workflow.json", {"d": {**sub, "params": {"path": "d.workflow.json"}}})
    workflow(tmp_path / "d.workflow.json", {"c": {**sub, "params": {"path": "c.workflow.json"}}})
    expect_refused(cli("workflow", "show", tmp_path / "c.workflow.json"), "includes itself", "cycle")
    missing = workflow(tmp_path / "e.workflow.json", {"s": {**sub, "params": {"path": "gone.workflow.json"}}})
    expect_refused(cli("workflow", "export-python", missing), "gone.workflow.json", "no such workflow file")
    echo = workflow(tmp_path / "echo.workflow.json", {}, outputs={"question": "input.question"})
    expect_refused(cli("workflow", "run", echo), "missing input 'question'")
