"""The workflow file: JSON a person can read and diff.

::

    {
      "format": "tensor-studio.workflow",
      "version": 1,
      "name": "qa",
      "description": "",
      "model": {"model": "openai/gpt-4o-mini", "temperature": 0},
      "inputs": {"question": {"type": "str", "desc": ""}},
      "outputs": {"answer": "answer.answer"},
      "nodes": {
        "answer": {"type": "prompts.predict",
                   "inputs": {"question": "input.question"},
                   "params": {"signature": "question -> answer", "instructions": "…", "demos": []}}
      },
      "layout": {"answer": [240.0, 80.0]}
    }

A node's ``inputs`` bind its ports to ``input.<name>`` or ``<node>.<port>``: the edges of
the graph live with the node that consumes them. Positions live apart in ``layout``, at
the end, so moving a node changes no other line. Older versions are migrated on load
(``MIGRATIONS``); a newer version is refused with a message saying so. Loading never
modifies the file; a bad file raises :class:`WorkflowError` saying where and what.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from studio.api import StudioFileError, atomic_write_text

FORMAT = "tensor-studio.workflow"
VERSION = 1
SUFFIX = ".workflow.json"

#: version → function upgrading a file's dict from that version to the next
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class WorkflowError(StudioFileError):
    """A workflow that cannot be loaded or run; the message names the file, node and problem."""


class PortSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = "str"
    desc: str = ""


class NodeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    title: str = ""
    inputs: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)


class WorkflowFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["tensor-studio.workflow"] = FORMAT
    version: int = VERSION
    name: str
    description: str = ""
    model: dict[str, Any] | None = None
    inputs: dict[str, PortSpec] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    nodes: dict[str, NodeSpec] = Field(default_factory=dict)
    layout: dict[str, list[float]] = Field(default_factory=dict)

    def to_text(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"

    def save(self, path: Path) -> None:
        atomic_write_text(Path(path), self.to_text())


def parse_workflow_text(text: str, source: str) -> WorkflowFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkflowError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise WorkflowError(f"{source}: a workflow file is a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise WorkflowError(f"{source}: not a Tensor Studio workflow (\"format\" is {data.get('format')!r}, "
                            f"expected {FORMAT!r})")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise WorkflowError(f"{source}: \"version\" must be a positive integer, got {version!r}")
    if version > VERSION:
        raise WorkflowError(f"{source}: written by a newer Tensor Studio (workflow version {version}; "
                            f"this one reads up to {VERSION}). Update Tensor Studio to open it.")
    while version < VERSION:
        data = MIGRATIONS[version](data)
        version = data["version"] = version + 1
    try:
        return WorkflowFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()[:5])
        raise WorkflowError(f"{source}: {problems}") from None


def read_workflow_file(path: Path) -> WorkflowFile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkflowError(f"{path}: no such workflow file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowError(f"{path}: cannot be read ({exc})") from None
    return parse_workflow_text(text, str(path))
