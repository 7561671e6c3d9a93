"""Running a workflow from the editor, without widgets: the parameters of its jobs, the
consent they need, the state of each node as a run's spans arrive, and the line that says
how a run ended.

Consent: a workflow file may come from anyone, and its function nodes and ReAct tools name
code that runs with your rights. Before Run, Evaluate or Optimize the editor names each
callable (``qt/editor/consent.py``); the answer is kept per content digest (the bytes of
the file and of its sub-workflows, ``workflow/trust.py``) in the plugin's settings, so a
restart keeps it, and a changed file — a new callable, or anything else — is asked about again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.api import JobOutcome, RunStatus, Span

from .schema import WorkflowError
from .trust import CodeRef

EVAL, OPTIMIZE = "eval", "optimize"  # what a finished job shows: a scores table, a diff
JOB_KINDS = {"run": "prompts.run", EVAL: "prompts.eval", OPTIMIZE: "prompts.optimize"}
SETTINGS_KEY = "trusted_workflows"  # content digest → {"path", "code", "when"}
KEEP = 500  # remembered answers (the oldest are forgotten first)
CACHEABLE = ("prompts.predict", "prompts.chain_of_thought")  # a finished span without model calls: from the cache
PREVIEW_CHARS = 400


# ---- before a job


def missing_problem(missing: dict[str, str]) -> str | None:
    """Why a workflow with nodes (id → type) no enabled plugin provides cannot run: their
    plugin is disabled, or not installed (None when it can run)."""
    from .graph import missing_text

    if not missing:
        return None
    return f"Cannot run: nodes {missing_text(missing)}."


def dataset_problem(data: str, verb: str) -> str | None:
    if data.strip():
        return None
    return f"Not started: choose a dataset file (CSV, JSON, JSONL, Parquet) to {verb} on."


def model_problem(path: Path, model: str, dialog: str) -> str | None:
    """Why the job would fail at its first call: no model reaches some predictor (None
    when one does, or the file cannot be read: ``consent`` says what is wrong with it).
    The message says where a model is set instead."""
    from ..preflight import no_model_message
    from .graph import load_workflow

    if model.strip():
        return None
    try:
        workflow = load_workflow(path)  # imports nothing the file names
    except WorkflowError:
        return None
    problem = no_model_message(
        workflow,
        f"type one in the {dialog} dialog's model field (and its API base URL "
        "for a local server), or set the node's model in the inspector",
    )
    return f"Not started: {problem}" if problem else None


def form_inputs(answers: dict[str, str]) -> dict[str, Any]:
    """The Run form's answers as the workflow's inputs: a list or object typed as JSON is
    that value; anything else is the text itself."""
    inputs: dict[str, Any] = {}
    for name, raw in answers.items():
        try:
            inputs[name] = json.loads(raw) if raw.strip()[:1] in "[{" else raw
        except ValueError:
            inputs[name] = raw
    return inputs


def max_calls(text: str) -> int | None:
    """The Optimize form's budget: a whole number, empty or 0 for none. ValueError says why not."""
    try:
        return int(text or 0) or None
    except ValueError:
        raise ValueError(f"Not started: max model calls must be a whole number, not {text!r}") from None


def run_params(path: Path, inputs: dict[str, Any], model: str, api_base: str, trusted: str) -> dict[str, Any]:
    return {"workflow": str(path), "inputs": inputs, "model": model, "api_base": api_base.strip(), "trusted": trusted}


def eval_params(
    path: Path, data: str, metric: str, model: str, api_base: str, resume: str, trusted: str
) -> dict[str, Any]:
    return {
        "workflow": str(path),
        "data": data,
        "metric": metric,
        "model": model,
        "api_base": api_base.strip(),
        "resume": resume,
        "trusted": trusted,
    }


def optimize_params(
    path: Path, data: str, metric: str, optimizer: str, max_calls: int | None, model: str, api_base: str, trusted: str
) -> dict[str, Any]:
    return {
        "workflow": str(path),
        "data": data,
        "metric": metric,
        "optimizer": optimizer,
        "max_calls": max_calls,
        "model": model,
        "api_base": api_base.strip(),
        "trusted": trusted,
    }


# ---- consent


@dataclass
class Consent:
    """What a job on a workflow needs agreed to: the code it names (none: nothing to ask),
    the content digest an answer is kept under, and the ``trusted`` fingerprint the job
    is started with."""

    code: list[CodeRef]
    digest: str
    fingerprint: str

    def asked(self, settings: dict[str, Any]) -> bool:
        """True when the user must be asked (code named, and not agreed to for this content)."""
        return bool(self.code) and not remembered(settings, self.digest)


def consent_for(path: Path, metric: str = "") -> Consent:
    """Reads ``path`` without importing anything it names (WorkflowError if it cannot);
    the metric typed in a form is the user's own choice, so it is trusted."""
    from .graph import load_workflow
    from .trust import content_digest, fingerprint

    workflow = load_workflow(path)
    return Consent(workflow.untrusted_code(), content_digest(workflow), fingerprint(workflow, metric))


def refusal_text(path: Path, code: list[CodeRef]) -> str:
    return (
        f"Not run: {path.name} names Python code or key-receiving servers "
        f"({', '.join(r.ref for r in code)}) you did not agree to."
    )


def remembered(settings: dict[str, Any], digest: str) -> bool:
    return digest in (settings.get(SETTINGS_KEY) or {})


def remember(settings: dict[str, Any], digest: str, path: Path, code: list[CodeRef]) -> dict[str, Any]:
    """The plugin's settings with this answer added (to save with ``save_settings``)."""
    known = dict(settings.get(SETTINGS_KEY) or {})
    known.pop(digest, None)
    known[digest] = {"path": str(path), "code": [ref.ref for ref in code], "when": time.strftime("%Y-%m-%d %H:%M")}
    return {**settings, SETTINGS_KEY: dict(list(known.items())[-KEEP:])}


# ---- while and after a run


@dataclass(frozen=True)
class NodeState:
    """A node's state in the run shown on the canvas (queued, running, ok, cached, error,
    cancelled) and a preview of its output or error ("" until it finished)."""

    name: str
    state: str
    preview: str = ""
    error: str | None = None


def node_state(span: Span, type_id: str) -> NodeState:
    """A workflow node's span as the state its node is shown in. A finished predictor that
    made no model call was answered from the cache."""
    finished = span.duration is not None  # the announced ("running") record has none
    state = span.status
    if state == "ok" and finished and span.record.get("total_calls") == 0 and type_id in CACHEABLE:
        state = "cached"
    preview = span.error or json.dumps(span.outputs, ensure_ascii=False, default=str)[:PREVIEW_CHARS]
    return NodeState(span.name, state, preview if finished else "", span.error)


def run_finished_text(outcome: JobOutcome) -> str:
    return f"Run {outcome.run_id}: {outcome.status}" + (f" — {outcome.error}" if outcome.error else "")


def finished_text(kind: str, outcome: JobOutcome) -> str:
    """The status line when an evaluation or optimization ends: its score and errors, or
    why it failed, so the line never keeps saying it is running."""
    what = "Evaluation" if kind == EVAL else "Optimization"
    run_id = outcome.run_id
    try:
        summary = json.loads((outcome.run_dir / ("summary.json" if kind == EVAL else "report.json")).read_text())
    except (OSError, ValueError):
        summary = None
    if outcome.status == RunStatus.CANCELLED:
        return f"{what} cancelled (run {run_id})."
    if kind == EVAL and isinstance(summary, dict):  # also a failed one: errors do not hide the score
        score = summary.get("score")
        text = (
            f"{what} finished: score {score:.3f} over {summary.get('scored', 0)} of "
            f"{summary.get('examples', 0)} examples"
            if score is not None
            else f"{what} finished: no example was scored"
        )
        errors = summary.get("errors") or 0
        return text + (f" ({errors} errored)" if errors else "") + f" (run {run_id})."
    if outcome.succeeded:
        saved = Path(summary["saved"]).name if isinstance(summary, dict) and summary.get("saved") else ""
        return f"{what} finished" + (f": saved as {saved}" if saved else "") + f" (run {run_id})."
    return f"{what} failed: {outcome.error or 'see the run'} (run {run_id})."
