"""The prompt engine's jobs: run, evaluate and optimize a workflow, traced into the run folder.

They run in the studio's event loop (``executor="async"``: model calls are I/O). Every
span goes to the run's ``events.jsonl`` and live to the studio; the call cache is the
plugin's own ``<workspace>/prompts/llm-cache.sqlite`` (``ctx.data_dir``).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from studio.api import JobContext, atomic_write_text, write_json

from .cache import CallCache
from .config import EvalParams, ModelOptions, OptimizeParams, RunParams
from .data import load_dataset
from .evaluate import EvaluationErrors, evaluate, example_key
from .lm import LM, Budget
from .preflight import check_metric, no_model_message, refuse_missing, resume_source
from .settings import context, settings
from .tokens import FOLDER as TOKENS_FOLDER
from .trace import Tracer
from .workflow import NodeError, WorkflowError, load_workflow
from .workflow.schema import workflow_suffix
from .workflow.trust import fingerprint, require


class OptimizationErrors(RuntimeError):
    """Model calls failed for good during an optimization: its scores are not comparable."""


def _workflow(params: ModelOptions, path: str):
    lm = None
    if params.model:
        lm = LM(params.model, api_base=params.api_base or None, timeout=params.timeout, retries=params.retries)
    workflow = load_workflow(Path(path).expanduser())  # imports nothing the file names
    refuse_missing(workflow)  # once, before any model call, not once per example
    # the gate: code the file (or a module:function metric) names runs only when the
    # caller's `trusted` is the fingerprint of exactly this content (workflow/trust.py)
    trusted, metric = getattr(params, "trusted", ""), getattr(params, "metric", "")
    require(workflow, trusted, metric)
    workflow.trust()
    if trusted and trusted == fingerprint(workflow, metric):  # servers the file names may get keys
        workflow.allow_credentials()
    workflow.lm_override = lm
    problem = (
        None
        if settings().lm is not None
        else no_model_message(
            workflow,
            "give the job a model (the model parameter; --model on the command line; "
            "the model field of the editor's Run / Evaluate / Optimize dialogs)",
        )
    )
    if problem:
        raise WorkflowError(problem)
    for _name, predictor in workflow.named_predictors():
        for candidate in (predictor.lm, workflow.lm):
            if candidate is not None:
                candidate.timeout, candidate.retries = params.timeout, params.retries
    return workflow


def _settings(params: ModelOptions, ctx: JobContext, **extra: Any):
    import asyncio

    # a cache that cannot be used (full disk, locked, read-only) is a warning, not a failed run
    cache = (
        CallCache(ctx.data_dir / "llm-cache.sqlite", warn=lambda text: ctx.log(text, "warning"))
        if params.cache
        else None
    )
    return context(
        tracer=Tracer(lambda record: ctx.span(**record)),
        cache=cache,
        limiter=asyncio.Semaphore(params.concurrency),
        cancelled=lambda: ctx.cancelled,
        tokens_dir=ctx.run_dir / TOKENS_FOLDER,  # each model call's token record (tokens.py)
        **extra,
    )


def _dataset(params: EvalParams, workflow) -> list:
    check_metric(params.metric)  # before any example runs: a typo is not 100 errored examples
    return load_dataset(Path(params.data).expanduser(), list(workflow.spec.inputs), limit=params.limit)


async def run(params: RunParams, ctx: JobContext) -> dict[str, Any]:
    workflow = _workflow(params, params.workflow)
    with _settings(params, ctx):
        try:
            outputs = await workflow.acall(**params.inputs)
        except NodeError as exc:  # its message names the node and the cause: no class name before it
            raise WorkflowError(str(exc)) from exc
    result = dict(outputs)
    write_json(ctx.run_dir / "outputs.json", result)
    ctx.artifact(ctx.run_dir / "outputs.json", "outputs")
    return result


async def run_eval(params: EvalParams, ctx: JobContext) -> dict[str, Any]:
    workflow = _workflow(params, params.workflow)
    dataset = _dataset(params, workflow)
    results = ctx.run_dir / "results.jsonl"
    earlier = resume_source(
        params.resume, ctx.folders, params.workflow, params.metric, [example_key(i, ex) for i, ex in enumerate(dataset)]
    )
    if earlier is not None:
        results.write_bytes(earlier.read_bytes())
    with _settings(params, ctx):
        result = await evaluate(
            workflow,
            dataset,
            params.metric,
            concurrency=params.concurrency,
            results_path=results,
            progress=lambda d, t, m: ctx.progress(d, t, m),
        )
    summary = result.summary()
    if result.score is not None:
        ctx.metric("score", 0, result.score)
    ctx.metric("errors", 0, len(result.errors))
    write_json(ctx.run_dir / "summary.json", summary)
    ctx.artifact(results, "eval-results")
    ctx.log(result.describe())
    if result.errors:  # the job fails, so nobody takes a partial score for a whole one
        raise EvaluationErrors(result, f"--resume {ctx.run_dir} retries them")
    return summary


async def run_optimize(params: OptimizeParams, ctx: JobContext) -> dict[str, Any]:
    from .optimizers import COPRO, BootstrapFewShot, LabeledFewShot

    workflow = _workflow(params, params.workflow)
    dataset = _dataset(params, workflow)
    if params.optimizer == "labeled":
        optimizer: Any = LabeledFewShot(k=params.k)
    elif params.optimizer == "bootstrap":
        optimizer = BootstrapFewShot(
            params.metric, max_bootstrapped_demos=params.k, max_labeled_demos=params.k, concurrency=params.concurrency
        )
    else:
        # the proposals come from the run's model (--model), else the workflow's, else a node's
        prompt_model = (
            workflow.lm_override
            or workflow.lm
            or next((p.lm for _name, p in workflow.named_predictors() if p.lm is not None), None)
        )
        optimizer = COPRO(
            params.metric,
            breadth=params.breadth,
            depth=params.depth,
            temperature=params.temperature,
            concurrency=params.concurrency,
            prompt_model=prompt_model,
        )
    budget = Budget(params.max_calls, params.max_cost) if (params.max_calls or params.max_cost) else None
    with _settings(params, ctx, budget=budget):
        optimized, report = await optimizer.compile(workflow, dataset, progress=lambda d, t, m: ctx.progress(d, t, m))
    if report.errors:  # a search on failed calls is no search: nothing is saved
        write_json(ctx.run_dir / "report.json", {**report.to_dict(), "saved": None})
        raise OptimizationErrors(
            f"{report.optimizer}: {report.errors} examples errored (first: {report.first_error}); "
            "no new version saved"
            + (
                "; the replies that came back are cached, so a rerun repeats only the failed calls"
                if params.cache
                else ""
            )
        )
    target = optimized.save_new_version(params.optimizer)
    before, after = workflow.path.read_text(encoding="utf-8"), target.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(before.splitlines(True), after.splitlines(True), str(workflow.path.name), str(target.name))
    )
    atomic_write_text(ctx.run_dir / "changes.diff", diff)
    summary = {**report.to_dict(), "saved": str(target), "calls": budget.calls if budget else None}
    write_json(ctx.run_dir / "report.json", summary)
    ctx.artifact(target, "workflow")
    ctx.artifact(ctx.run_dir / "changes.diff", "diff")
    ctx.log(
        f"saved {target} ({len(report.changes)} predictors changed)" + (f"; {report.stopped}" if report.stopped else "")
    )
    return {k: v for k, v in summary.items() if k != "candidates"}


def export(workflow_path: str, output: str | None = None, force: bool = False) -> Path:
    """Write the standalone script. An existing file is the user's: refused unless
    ``force``; something that is not a regular file (a FIFO, a device, a folder) never."""
    from .workflow.export import export_python

    source = Path(workflow_path).expanduser()
    workflow = load_workflow(source)
    target = (
        Path(output).expanduser()
        if output
        else source.with_name(source.name.removesuffix(workflow_suffix(source) or "") + ".py")
    )
    if target.exists() or target.is_symlink():
        if not target.is_file():
            raise WorkflowError(f"{target} exists and is not a regular file; give the script another name with -o")
        if not force:
            raise WorkflowError(f"{target} exists; pass --force to replace it (or -o another name)")
    atomic_write_text(target, export_python(workflow, target.name))
    target.chmod(0o755)
    return target


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)
