"""The workflow open in the editor, without its widgets: which file, whether it has unsaved
edits, autosave and recovery, saving and renaming, a change made on disk by another
program, files dropped on the canvas, and the run whose node states the canvas shows.

The editor (``qt/workflow_panel.py``) keeps the nodes on its canvas, whose undo stack is
NodeGraphQt's; the session knows the stack only as a number that changes with every edit
(``revision``), so "unsaved" is "the revision is not the one last saved" (the editor counts
the undo stack's clean index as one revision, so undoing back to the saved file is saved,
and a new edit after undoing past it is not). Everything here is plain Python: the tests
drive it without a window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.api import Event, Span

from .editing import INPUTS_NODE, OUTPUTS_NODE, Ports, known_outputs, node_ports
from .graph import check_references, missing_text
from .runs import NodeState, node_state
from .schema import SUFFIX, WorkflowError, WorkflowFile, parse_workflow_text, read_workflow_text, workflow_suffix

UNTITLED = "untitled"
DATASET_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet")


def untitled_workflow() -> WorkflowFile:
    """What New opens: one Predict node from the question to the answer."""
    return WorkflowFile(
        name=UNTITLED,
        inputs={"question": {"type": "str"}},
        outputs={"answer": "predict.answer"},
        nodes={
            "predict": {
                "type": "prompts.predict",
                "inputs": {"question": "input.question"},
                "params": {"signature": "question -> answer", "demos": []},
            }
        },
        layout={"inputs": [-320, 0], "predict": [0, 0], "outputs": [320, 0]},
    )


def lost_parts(loaded: WorkflowFile, drawn: WorkflowFile) -> list[str]:
    """What ``drawn`` lacks or changed of ``loaded``: nodes, their type, parameters and
    input bindings, the workflow's inputs and its output bindings (not names or layout)."""
    lost = []
    for node_id, node in loaded.nodes.items():
        other = drawn.nodes.get(node_id)
        if other is None:
            lost.append(f"node {node_id!r}")
            continue
        if other.type != node.type:
            lost.append(f"node {node_id!r}'s type {node.type}")
        if other.params != node.params:
            lost.append(f"node {node_id!r}'s parameters")
        lost += [
            f"node {node_id!r} input {port!r} ← {ref}"
            for port, ref in node.inputs.items()
            if other.inputs.get(port) != ref
        ]
    if drawn.inputs != loaded.inputs:
        lost.append("the workflow's inputs")
    lost += [f"output {name!r} ← {ref}" for name, ref in loaded.outputs.items() if drawn.outputs.get(name) != ref]
    return lost


@dataclass(frozen=True)
class DiskChange:
    """What to do when the open file changed on disk: ``reload`` this spec (None: keep the
    editor's version), say ``message`` ("" for nothing) at ``level``, and watch the file
    again (``rewatch``: a program that saves by replacing the file ends the old watch)."""

    reload: WorkflowFile | None = None
    message: str = ""
    level: str = "info"
    rewatch: bool = False


class WorkflowSession:
    def __init__(
        self,
        autosave_dir: Path,
        node_types: dict[str, Any] | None = None,
        revision: Callable[[], int] = lambda: 0,
        saved: Callable[[], None] = lambda: None,
    ):
        self.autosave_dir = autosave_dir  # unsaved edits are written here, never over the user's file
        self.node_types = node_types or {}  # type id → NodeType (built-in and plugins)
        self.revision = revision
        self.saved_hook = saved  # told when the edits so far are saved (the canvas marks its undo stack clean)
        self.path: Path | None = None
        self.header: dict[str, Any] = {"name": UNTITLED, "description": "", "model": None}
        self.saved_revision = revision()
        self.recovery: Path | None = None  # a newer autosave of the open file, until recovered
        self.dataset = ""  # the last dataset dropped on the canvas: evaluate / optimize use it
        self.run_id = ""  # the run whose node states the canvas shows
        self.node_states: dict[str, NodeState] = {}
        self.lost: list[str] = []  # what the canvas could not draw of the open file: Save refuses
        self.drawn_spec: WorkflowFile | None = None  # the open file as the canvas reads it back

    # ---- state

    @property
    def dirty(self) -> bool:
        return self.revision() != self.saved_revision

    def mark_saved(self) -> None:
        self.saved_hook()
        self.saved_revision = self.revision()

    @property
    def name(self) -> str:
        return self.path.name if self.path else UNTITLED

    def title(self) -> str:
        return f"{self.name}{' *' if self.dirty else ''}"

    def status_text(self) -> str:
        return f"{self.name}{' — unsaved changes' if self.dirty else ''}"

    # ---- opening

    def read(self, path: Path) -> tuple[WorkflowFile, str]:
        """The workflow in ``path`` and its text; WorkflowError with the reader's message
        (missing, a folder, binary, not valid JSON…, or bindings the editor cannot open:
        ``check``) leaves the session as it was."""
        text, _data = read_workflow_text(path)
        spec = parse_workflow_text(text, str(path))
        self.check(spec, path)
        return spec, text

    def check(self, spec: WorkflowFile, path: Path) -> None:
        """WorkflowError when ``spec`` (from ``path``) cannot be edited as it is: a binding
        to an input the workflow does not declare, to a node or an output port that does
        not exist (the check ``tensor-studio workflow show`` makes, in the same words), or
        one the canvas has no port to draw — saving would then drop it. What the editor
        itself saves while a workflow is unfinished (an input not connected yet, a function
        not named yet) opens."""
        base = path.parent

        def outputs(node_id: str) -> list[str] | None:
            node = spec.nodes[node_id]
            return known_outputs(node.type, node.params, self.node_types.get(node.type), base)

        check_references(spec, str(path), outputs)
        problems = self.undrawable(spec, base)
        if problems:
            raise WorkflowError(
                f"{path}: {problems[0]}; the editor has no place for it, so saving would drop it. "
                "Fix the file in a text editor"
            )

    def undrawable(self, spec: WorkflowFile, base: Path | None = None) -> list[str]:
        """The parts of ``spec`` the canvas cannot draw: a node named like the canvas's own
        inputs and outputs nodes, and an input binding to a port its node does not have."""
        problems = [
            f"node {node_id!r}: the editor keeps that name for the workflow's own {node_id}"
            for node_id in spec.nodes
            if node_id in (INPUTS_NODE, OUTPUTS_NODE)
        ]
        for node_id, node in spec.nodes.items():
            if node.type not in self.node_types:
                continue  # a missing plugin's node is drawn with the ports it is bound by
            inputs, _ = node_ports(node.type, node.params, list(node.inputs), self.node_types[node.type], base)
            names = [name for name, _type in inputs]
            problems += [
                f"node {node_id!r} input {port!r}: a {node.type} node has no input {port!r} "
                f"(it has {', '.join(names) or 'none'})"
                for port in node.inputs
                if port not in names
            ]
        return problems

    def loading(self, spec: WorkflowFile, path: Path | None) -> None:
        """``spec`` from ``path`` is being drawn: its header and folder are this session's
        (a sub-workflow's ports are read relative to it). ``mark_saved`` once drawn."""
        self.path = path
        self.header = {"name": spec.name, "description": spec.description, "model": spec.model}
        self.lost = []
        self.drawn_spec = None
        self.recovery = None  # ``opened`` finds this file's, if it has one

    def missing_types(self, spec: WorkflowFile) -> list[str]:
        """The nodes of ``spec`` whose type no enabled plugin provides."""
        return [name for name, node in spec.nodes.items() if node.type not in self.node_types]

    def opened(self, path: Path, spec: WorkflowFile, text: str) -> list[tuple[str, str]]:
        """What to tell the user once ``path`` is open: nodes of missing plugins, and
        unsaved edits of an earlier session (an autosave newer than the file and not the
        same), which become ``recovery``. (text, level) pairs."""
        messages = []
        missing = self.missing_types(spec)
        if missing:
            text = (
                f"{path.name}: nodes {missing_text({name: spec.nodes[name].type for name in missing})}. They are "
                "kept and shown grey, and the workflow cannot run until their plugin is there and enabled."
            )
            messages.append((text, "warning"))
        auto = self.autosave_path()
        if auto.exists() and auto.stat().st_mtime > path.stat().st_mtime and self._unsaved_in(auto, text, spec):
            self.recovery = auto
            text = (
                f"Unsaved changes to {path.name} from an earlier session were recovered: use Recover to see "
                f"them ({auto})."
            )
            messages.append((text, "warning"))
        return messages

    def _unsaved_in(self, auto: Path, text: str, spec: WorkflowFile) -> bool:
        """Whether the autosave ``auto`` holds edits the file (``text``, read as ``spec``) lacks:
        compared by content — the file's, and the file as the canvas draws it — not by text,
        so an autosave of edits undone back to the file (or the file as the editor writes it)
        is not offered as "unsaved changes". One that cannot be read is not offered either."""
        try:
            saved = auto.read_text(encoding="utf-8")
            if saved == text:
                return False
            autosaved = parse_workflow_text(saved, str(auto))
        except (OSError, UnicodeDecodeError, WorkflowError):
            return False
        found = autosaved.model_dump(mode="json")
        return all(found != known.model_dump(mode="json") for known in (spec, self.drawn_spec) if known is not None)

    def disk_change(self, path: Path) -> DiskChange:
        """Another program changed (or replaced) ``path``: reload it when there are no
        unsaved edits; keep the edits otherwise; keep the editor's version if it cannot
        be read now."""
        if self.path is None or path != self.path or not path.exists():
            return DiskChange()
        if self.dirty:
            return DiskChange(
                None,
                f"{path.name} changed on disk. Your unsaved edits are kept; save to overwrite, "
                "or reopen the file to take the version on disk.",
                "warning",
            )
        try:
            spec, _text = self.read(path)
        except WorkflowError as exc:
            return DiskChange(
                None,
                f"{path.name} changed on disk but cannot be read now ({exc}); the editor keeps its version.",
                "warning",
                rewatch=True,
            )
        return DiskChange(spec, f"{path.name} changed on disk and was reloaded.", rewatch=True)

    # ---- saving

    def drawn(self, loaded: WorkflowFile, drawn: WorkflowFile) -> list[str]:
        """``loaded`` was drawn and reads back as ``drawn``: what the canvas lost (nodes,
        their type, parameters or bindings, the workflow's inputs and outputs) is kept in
        ``lost``, and Save refuses while there is any rather than write less than the file
        held. Empty for every file ``check`` lets through."""
        self.lost = lost_parts(loaded, drawn)
        self.drawn_spec = drawn
        return self.lost

    def save(self, spec: WorkflowFile, path: Path) -> None:
        """Write ``spec`` to ``path`` and make it the open file. An untitled workflow takes
        the file's name; the file's autosave is removed (nothing unsaved is left). Refused
        (WorkflowError) while the canvas lacks something the file held (``lost``)."""
        if self.lost:
            raise WorkflowError(
                f"Not saved: the editor could not show {'; '.join(self.lost[:3])}"
                f"{' and more' if len(self.lost) > 3 else ''} of {self.name}, and saving would drop it. "
                "Fix the file in a text editor, then open it again"
            )
        if self.header["name"] == UNTITLED:
            spec.name = self.header["name"] = path.name.removesuffix(workflow_suffix(path) or SUFFIX)
        spec.save(path)
        self.path = path
        self.mark_saved()
        self.autosave_path().unlink(missing_ok=True)

    def autosave_path(self) -> Path:
        return self.autosave_dir / (self.path.name if self.path else f"{UNTITLED}{SUFFIX}")

    def autosave(self, spec: Callable[[], WorkflowFile]) -> Path | None:
        """Write unsaved edits (``spec()``) to the autosave folder; None when there are none.
        With none (saved, or undone back to the file), an older autosave is removed: it
        would be offered as "unsaved changes" on the next start — unless it is the recovery
        the user has not looked at yet."""
        if self.lost:  # an autosave of less than the file would be recovered as it
            return None
        if not self.dirty:
            if self.recovery is None:
                try:
                    self.autosave_path().unlink(missing_ok=True)
                except OSError:  # a read-only workspace: nothing was autosaved there either
                    pass
            return None
        target = self.autosave_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        spec().save(target)
        return target

    def recovered_spec(self) -> WorkflowFile | None:
        """The workflow of ``recovery`` (to draw, then ``recovered()``); None if there is none."""
        if self.recovery is None:
            return None
        return parse_workflow_text(self.recovery.read_text(encoding="utf-8"), str(self.recovery))

    def recovered(self) -> None:
        """The recovered edits are drawn: unsaved until saved."""
        self.saved_revision = -1
        self.recovery = None

    # ---- nodes and files

    def ports_of(self, type_id: str, params: dict[str, Any], bound: list[str]) -> tuple[Ports, Ports]:
        return node_ports(type_id, params, bound, self.node_types.get(type_id), self.path.parent if self.path else None)

    def subworkflow_path(self, params: dict[str, Any]) -> Path:
        """The file a sub-workflow node names, relative to the open workflow's folder."""
        return (self.path.parent if self.path else Path.cwd()) / params.get("path", "")

    def dropped(self, paths: Iterable[Path]) -> tuple[str, Path | None]:
        """Files dropped on the canvas: ("workflow", path) to open; ("dataset", path) for
        Evaluate and Optimize (kept as ``dataset``); ("", None) for neither."""
        for path in paths:
            if workflow_suffix(path):
                return "workflow", path
            if path.is_dir() or path.suffix.lower() in DATASET_SUFFIXES:
                self.dataset = str(path)
                return "dataset", path
        return "", None

    # ---- the run shown on the canvas

    def start_run(self, run_id: str, names: Iterable[str]) -> list[NodeState]:
        """A run of the open workflow started: every node is queued."""
        self.run_id = run_id
        self.node_states = {name: NodeState(name, "queued") for name in names}
        return list(self.node_states.values())

    def run_events(self, run_id: str, events: Iterable[Event], type_of: Callable[[str], str | None]) -> list[NodeState]:
        """The node states that ``events`` of ``run_id`` change, in order: node spans of the
        run shown, for nodes on the canvas (``type_of(name)`` is a node's type, None if
        there is no such node). Other runs and other events change nothing."""
        if not run_id or run_id != self.run_id:
            return []
        changed = []
        for event in events:
            if isinstance(event, Span) and event.span_kind == "node":
                type_id = type_of(event.name)
                if type_id is None:
                    continue
                state = node_state(event, type_id)
                self.node_states[state.name] = state
                changed.append(state)
        return changed
