"""The workflow file: JSON (``.workflow.json``) or YAML (``.workflow.yaml``) a person can
read and diff — the same content either way; YAML writes multi-line instructions as
blocks, so a changed prompt line is a changed file line.

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

import hashlib
import json
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from studio.api import StudioFileError, atomic_write_text

FORMAT: Final = "tensor-studio.workflow"
VERSION = 1
SUFFIX = ".workflow.json"  # what new files get
YAML_SUFFIXES = (".workflow.yaml", ".workflow.yml")
SUFFIXES = (SUFFIX, *YAML_SUFFIXES)
MAX_BYTES = 16 * 2**20  # a workflow is a page of text: more is not one (or /dev/zero)

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

    def to_text(self, yaml: bool = False) -> str:
        data = self.model_dump(mode="json")
        if yaml:
            return _yaml_text(data)
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def save(self, path: Path) -> None:
        """Written whole and atomically, as JSON or YAML by the file's name."""
        atomic_write_text(Path(path), self.to_text(yaml=is_yaml(path)))


def workflow_suffix(path: str | PurePath) -> str | None:
    """The workflow suffix the file name ends with, or None for other files."""
    name = PurePath(path).name
    return next((suffix for suffix in SUFFIXES if name.endswith(suffix)), None)


def is_yaml(path: str | PurePath) -> bool:
    return workflow_suffix(path) in YAML_SUFFIXES


def sibling(path: Path, label: str) -> Path:
    """``<name>.<label><suffix>`` beside ``path`` (its own suffix: YAML stays YAML), never
    an existing file: ``-2``, ``-3``… are added until the name is free."""
    found = workflow_suffix(path)
    suffix, stem = (found, path.name.removesuffix(found)) if found else (SUFFIX, path.stem)
    target, n = path.with_name(f"{stem}.{label}{suffix}"), 2
    while target.exists():
        target, n = path.with_name(f"{stem}.{label}-{n}{suffix}"), n + 1
    return target


def _yaml_text(data: dict[str, Any]) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value: str):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, text)
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)


def _load(text: str, source: str) -> Any:
    from ..input_files import parse_guarded

    return parse_guarded(lambda: _parse(text, source), source, WorkflowError)


def _parse(text: str, source: str) -> Any:
    if is_yaml(source):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
            raise WorkflowError(f"{source}: not valid YAML ({where}{getattr(exc, 'problem', None) or exc})") from None
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            raise WorkflowError(f"{source}: not valid YAML ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkflowError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise WorkflowError(f"{source}: not valid JSON ({exc})") from None


def parse_workflow_text(text: str, source: str) -> WorkflowFile:
    """``source`` names the file: a ``.workflow.yaml`` / ``.yml`` name is read as YAML."""
    data = _load(text, source)
    if not isinstance(data, dict):
        raise WorkflowError(f"{source}: a workflow file is a mapping (a JSON object), got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise WorkflowError(
            f'{source}: not a Tensor Studio workflow ("format" is {data.get("format")!r}, expected {FORMAT!r})'
        )
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise WorkflowError(f'{source}: "version" must be a positive integer, got {str(version)[:40]!r}')
    if version > VERSION:
        shown = version if version < 10**12 else "(a number too large)"
        raise WorkflowError(
            f"{source}: written by a newer Tensor Studio (workflow version {shown}; "
            f"this one reads up to {VERSION}). Update Tensor Studio to open it."
        )
    while version < VERSION:
        data = MIGRATIONS[version](data)
        version = data["version"] = version + 1
    try:
        return WorkflowFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()[:5])
        raise WorkflowError(f"{source}: {problems}") from None


def read_workflow_file(path: Path) -> WorkflowFile:
    return read_workflow_source(path)[0]


def read_workflow_source(path: Path) -> tuple[WorkflowFile, str]:
    """The file and the sha256 of the very bytes it was parsed from (what consent to run its
    code is bound to: see ``trust.py``)."""
    path = Path(path)
    text, data = read_workflow_text(path)
    return parse_workflow_text(text, str(path)), hashlib.sha256(data).hexdigest()


def read_workflow_text(path: Path) -> tuple[str, bytes]:
    """The file's text and bytes, or a one-line :class:`WorkflowError`: missing, a folder,
    a FIFO or device, over :data:`MAX_BYTES`, unreadable, or not text at all (a binary
    file given a workflow's name)."""
    from ..input_files import read_capped

    path = Path(path)
    data = read_capped(path, MAX_BYTES, "workflow file", WorkflowError)
    try:
        if b"\x00" in data:  # valid UTF-8 may still be binary; no workflow holds a NUL byte
            raise UnicodeDecodeError("utf-8", data, data.index(b"\x00"), data.index(b"\x00") + 1, "NUL byte")
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise WorkflowError(f"{path.name} is not a text file (binary?), so not a workflow") from None
    return text, data
