"""``tensor-studio workflow run|eval|optimize|export-python|show``.

``run``, ``eval`` and ``optimize`` are jobs (a run folder with the trace in
``events.jsonl``, a progress bar, Ctrl-C cancels); their result is printed as JSON.
A workflow that names Python code (function nodes, ReAct tools) is refused unless
``--trust`` is given: ``show`` lists that code, and neither it nor ``export-python``
imports any of it (``workflow/trust.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from studio.api import CliContext, parse_assignments


def configure(parser) -> None:
    sub = parser.add_subparsers(dest="workflow_action", required=True, metavar="ACTION")

    def model_options(p) -> None:
        p.add_argument("--model", default="", help="model for nodes without their own, e.g. openai/gpt-4o-mini")
        p.add_argument("--api-base", default="", help="server URL (Ollama, vLLM, LM Studio, llama.cpp…)")
        p.add_argument("--no-cache", action="store_true", help="always call the model (the cache is on by default)")
        p.add_argument("--concurrency", type=int, default=8, help="model calls in flight at once (8)")
        p.add_argument("--timeout", type=float, default=120.0, help="seconds per model call (120)")
        p.add_argument(
            "--retries",
            type=int,
            default=3,
            choices=range(11),
            metavar="N",
            help="retries of a call on rate limits, server errors, timeouts (3)",
        )
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument(
            "--trust",
            action="store_true",
            help="run the Python code the workflow names (see `workflow show FILE`); "
            "without it such a workflow is refused",
        )

    run = sub.add_parser("run", help="run a workflow once")
    run.add_argument("workflow", help="a .workflow.json or .workflow.yaml file")
    run.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a workflow input (VALUE parsed as JSON if it can be)",
    )
    model_options(run)

    for name, help_text in (
        ("eval", "evaluate a workflow on a dataset"),
        ("optimize", "optimize demos or instructions; saves a new version of the file"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("workflow")
        p.add_argument("--data", required=True, help="CSV, JSON, JSONL, Parquet or a saved HF dataset folder")
        p.add_argument(
            "--metric", default="exact_match", help="exact_match, f1, contains, llm_judge or module:function"
        )
        p.add_argument("--limit", type=int, default=None, help="use only the first N examples")
        model_options(p)
        if name == "eval":
            p.add_argument("--resume", default="", help="an interrupted evaluation's run folder")
        else:
            p.add_argument("--optimizer", choices=["labeled", "bootstrap", "copro"], default="bootstrap")
            p.add_argument(
                "--set",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help="optimizer settings: k, breadth, depth, temperature, max_calls, max_cost",
            )

    export = sub.add_parser("export-python", help="write a plain Python script that calls litellm directly")
    export.add_argument("workflow")
    export.add_argument("-o", "--output", default=None, help="script path (default: next to the workflow)")
    export.add_argument("--force", action="store_true", help="replace the script if it exists")

    show = sub.add_parser("show", help="check a workflow file and list its nodes")
    show.add_argument("workflow")


def run(args, ctx: CliContext) -> int:
    action = args.workflow_action
    if action == "export-python":
        from .jobs import export

        print(export(args.workflow, args.output, force=args.force))
        return 0
    if action == "show":
        return _show(args.workflow)
    params: dict[str, Any] = {
        "workflow": _absolute(args.workflow),
        "model": args.model,
        "api_base": args.api_base,
        "cache": not args.no_cache,
        "concurrency": args.concurrency,
        "timeout": args.timeout,
        "retries": args.retries,
    }
    _check_model(args.model, ctx)
    if action == "run":
        workflow = _check(args.workflow)
        params["trusted"] = _consent(workflow, args.trust)  # what it would run or send comes first
        _check(workflow, needs_model=not args.model)
        params["inputs"] = _assignments(args.input, "--input")
        _check_inputs(workflow, params["inputs"])
        return ctx.run_job("prompts.run", params, quiet=args.quiet)
    from .data import load_dataset
    from .preflight import check_metric

    settings = _optimizer_settings(args.set) if action == "optimize" else {}
    workflow = _check(args.workflow)
    trusted = _consent(workflow, args.trust, args.metric)
    _check(workflow, needs_model=not args.model)
    params.update({"data": _absolute(args.data), "metric": check_metric(args.metric), "limit": args.limit})
    # the dataset is read now: a bad file or a missing column costs no run folder
    dataset = load_dataset(params["data"], list(workflow.spec.inputs), limit=args.limit)
    params["trusted"] = trusted
    if action == "eval":
        params["resume"] = _resume(args, ctx, params, dataset)
        return ctx.run_job("prompts.eval", params, quiet=args.quiet)
    params.update({"optimizer": args.optimizer, **settings})
    return ctx.run_job("prompts.optimize", params, quiet=args.quiet)


def _check_model(model: str, ctx: CliContext) -> None:
    """A ``--model studio/<run id>`` (a provider whose model strings name the workspace's
    models) that names no model of this workspace is bad input, said before any run
    folder is made: exit 2, with the workspace searched and a close run id. The run or
    folder must hold a model (config.json and weights: ``loadable_model``), not only
    exist: a self-test run or ``..`` is refused here too."""
    from studio.api import ModelNotFound, contributions, loadable_model

    for provider in contributions("studio_llm_providers"):
        if provider.model_refs and model.startswith(provider.prefix):
            try:
                loadable_model(model[len(provider.prefix) :], ctx.folders)
            except ModelNotFound as exc:
                shown = model if len(model) <= 120 else f"{model[:119]}…"
                raise ModelNotFound(f"--model {shown}: {exc}") from None
            return


def _absolute(path: str) -> str:
    """The path made absolute for the job; a symlink loop is bad input, not a crash."""
    try:
        return str(Path(path).expanduser().resolve())
    except (OSError, RuntimeError) as exc:
        raise ValueError(f"{path}: cannot be resolved ({exc})") from None


#: what ``optimize --set`` may change: the optimizer's own settings, not what the command sets
OPTIMIZER_SETTINGS = ("k", "breadth", "depth", "temperature", "max_calls", "max_cost")


def _optimizer_settings(items: list[str]) -> dict[str, Any]:
    values = _assignments(items, "--set")
    wrong = [key for key in values if key not in OPTIMIZER_SETTINGS]
    if wrong:
        how = (
            "give it as the command's own argument or option, not --set"
            if wrong[0] in _COMMAND_SET
            else "no such setting"
        )
        raise ValueError(f"--set {wrong[0]}: {how} (--set takes {', '.join(OPTIMIZER_SETTINGS)})")
    return values


_COMMAND_SET = (
    "workflow",
    "data",
    "metric",
    "limit",
    "optimizer",
    "model",
    "api_base",
    "cache",
    "concurrency",
    "timeout",
    "retries",
    "trusted",
    "resume",
    "inputs",
)


def _assignments(items: list[str], flag: str) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; an error names the flag they came from."""
    try:
        return parse_assignments(items)
    except ValueError as exc:
        raise ValueError(str(exc).replace("--set", flag, 1)) from None


def _check(path: Any, needs_model: bool = False):
    """Fail before a run folder is made when the file is bad (the error names the problem),
    names a node type no installed plugin provides, or (``needs_model``: no --model given)
    has a predictor no model reaches. Loading imports nothing the file names; ``path``
    may be a workflow loaded already."""
    from .preflight import no_model_message, refuse_missing
    from .workflow import Workflow, WorkflowError, load_workflow

    workflow = path if isinstance(path, Workflow) else load_workflow(Path(path))
    refuse_missing(workflow)
    if needs_model:
        problem = no_model_message(
            workflow,
            "pass one with --model (e.g. --model openai/gpt-4o-mini, or "
            "--model ollama_chat/llama3.2 --api-base http://localhost:11434)",
        )
        if problem:
            raise WorkflowError(problem)
    return workflow


def _resume(args, ctx: CliContext, params: dict[str, Any], dataset: list) -> str:
    """The earlier results ``--resume`` continues from, checked now: a wrong target is
    refused before any model call instead of quietly re-running everything."""
    if not args.resume:
        return ""
    from .evaluate import example_key
    from .preflight import resume_source

    keys = [example_key(i, ex) for i, ex in enumerate(dataset)]
    return str(resume_source(args.resume, ctx.folders, params["workflow"], args.metric, keys))


def _check_inputs(workflow, inputs: dict[str, Any]) -> None:
    from .workflow import WorkflowError

    names = list(workflow.spec.inputs)
    absent = [name for name in names if name not in inputs]
    if absent:
        raise WorkflowError(
            f"{workflow.where}: missing input {absent[0]!r}: give it with --input "
            f"{absent[0]}=VALUE (inputs: {', '.join(names)})"
        )
    unknown = [name for name in inputs if name not in workflow.spec.inputs]
    if unknown:
        raise WorkflowError(
            f"{workflow.where}: the workflow has no input {unknown[0]!r} (inputs: {', '.join(names) or 'none'})"
        )


def _consent(workflow, trust: bool, metric: str = "") -> str:
    """The ``trusted`` fingerprint for the job. A metric typed on the command line is the
    user's own choice; the code the workflow names needs ``--trust``."""
    from .workflow.trust import fingerprint, require

    if not trust:
        require(workflow, metric="", how="if you trust it, run again with --trust")
    return fingerprint(workflow, metric)


def _show(path: str) -> int:
    from .workflow import load_workflow

    workflow = load_workflow(Path(path))
    spec = workflow.spec
    print(
        f"{spec.name} (version {spec.version}): inputs {', '.join(spec.inputs) or 'none'} → "
        f"outputs {', '.join(spec.outputs) or 'none'}"
    )
    for node_id in workflow.order:
        node = spec.nodes[node_id]
        missing = "  [missing plugin]" if node_id in workflow.missing else ""
        wired = ", ".join(f"{port}←{ref}" for port, ref in node.inputs.items())
        code = "  calls " + ", ".join(workflow.code_refs[node_id]) if workflow.code_refs.get(node_id) else ""
        print(f"  {node_id:16} {node.type:26} {wired}{code}{missing}")
    if workflow.missing:
        print(json.dumps({"missing_node_types": workflow.missing}))
    _show_code(workflow)
    return 0


def _show_code(workflow) -> None:
    """Every callable the workflow (and its sub-workflows) names, and every server it names
    that would get one of your keys: nothing is imported, nothing is sent."""
    from .workflow.trust import BUILTIN, callables, endpoints, fingerprint

    refs, servers = callables(workflow), endpoints(workflow)
    untrusted = [r for r in refs if r.ref not in BUILTIN] + servers
    if not refs:
        print("Python code: none" + ("" if servers else " (runs without --trust)"))
    else:
        print(
            "Python code it names"
            + (
                " (runs only with --trust, or after Run in the editor's dialog):"
                if untrusted
                else " (the studio's own, runs as it is):"
            )
        )
        for ref in refs:
            print(f"  {ref.ref:32} {ref.role} in {ref.where}" + ("  [built in]" if ref.ref in BUILTIN else ""))
    if servers:
        print(
            "Servers it names that would get your keys (sent only with --trust, or after Run in the editor's dialog):"
        )
        for ref in servers:
            print(f"  {ref.ref} {ref.role} in {ref.where}")
    if untrusted:
        print(f"content fingerprint {fingerprint(workflow)} (jobs run: --set trusted=…)")
