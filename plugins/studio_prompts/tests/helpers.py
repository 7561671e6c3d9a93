"""Workflow files for tests, written the way a person (or the editor) writes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: countries and their capitals: the questions and gold answers of the evaluation tests
CAPITALS = {
    "France": "Paris",
    "Germany": "Berlin",
    "Italy": "Rome",
    "Spain": "Madrid",
    "Japan": "Tokyo",
    "Egypt": "Cairo",
}


def workflow_dict(
    nodes: dict[str, Any], inputs: dict[str, Any], outputs: dict[str, str], name: str = "test", model: Any = None
) -> dict[str, Any]:
    return {
        "format": "tensor-studio.workflow",
        "version": 1,
        "name": name,
        "description": "",
        "model": model,
        "inputs": {k: ({"type": v} if isinstance(v, str) else v) for k, v in inputs.items()},
        "outputs": outputs,
        "nodes": nodes,
        "layout": {},
    }


def write_workflow(path: Path, **kwargs: Any) -> Path:
    path.write_text(json.dumps(workflow_dict(**kwargs), indent=2))
    return path


def predict_node(signature: str, inputs: dict[str, str], kind: str = "prompts.predict", **params: Any) -> dict:
    return {"type": kind, "title": "", "inputs": inputs, "params": {"signature": signature, **params}}


def open_one_question_node(editor, folder: Path) -> Any:
    """A one-node ``question -> answer`` workflow opened in the editor with its node
    selected; returns the node inspector."""
    path = write_workflow(
        folder / "one.workflow.json",
        nodes={"ask": predict_node("question -> answer", {"question": "input.question"})},
        inputs={"question": "str"},
        outputs={"answer": "ask.answer"},
    )
    editor.open_path(path)
    editor.select_node("ask")
    return editor.inspector


def fan_out(path: Path, branches: int, model: dict | None = None) -> Path:
    """``question`` → ``branches`` independent predictors → a Python join node."""
    nodes = {f"b{i}": predict_node("question -> answer", {"question": "input.question"}) for i in range(branches)}
    nodes["join"] = {
        "type": "prompts.python",
        "title": "",
        "params": {"function": "studio_prompts.tests.helpers:join"},
        "inputs": {f"a{i}": f"b{i}.answer" for i in range(branches)},
    }
    return write_workflow(
        path, nodes=nodes, inputs={"question": "str"}, outputs={"joined": "join.result"}, model=model, name="fan-out"
    )


def unknown_country(country: str) -> str:
    """A function node that fails: a workflow run that fails without a model call."""
    raise ValueError(f"no capital known for {country}")


def join(**answers: str) -> str:
    return "|".join(answers[k] for k in sorted(answers, key=lambda k: int(k[1:])))


def code_workflow(path: Path) -> Path:
    """A workflow whose one node names Python code (``os:system``): what consent is for."""
    return write_workflow(
        path,
        nodes={
            "shell": {
                "type": "prompts.python",
                "inputs": {"cmd": "input.question"},
                "params": {"function": "os:system"},
            }
        },
        inputs={"question": "str"},
        outputs={"out": "shell.result"},
    )
