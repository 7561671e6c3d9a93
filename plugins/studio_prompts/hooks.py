"""The prompt-module plugin's contributions: job kinds, panels, workflow node types, the CLI and
the home page's *Open sample workflow*."""

from __future__ import annotations

from pathlib import Path

from studio.api import (
    CliCommand,
    JobKind,
    MenuAction,
    NodeType,
    OpenAction,
    PanelSpec,
    PluginInfo,
    Port,
    Span,
    Status,
    hookimpl,
)

from .config import EvalParams, OptimizeParams, RunParams


@hookimpl
def studio_plugin_info():
    return PluginInfo(
        name="Prompt modules",
        version="0.1",
        description="Typed signatures, predictors, modules and workflows run through litellm; "
        "evaluation and optimizers; every prompt and reply traced.",
    )


@hookimpl
def studio_job_kinds():
    return [
        JobKind(
            "prompts.run",
            "Run workflow",
            RunParams,
            "studio_prompts.jobs:run",
            executor="async",
            description="Run a workflow once; every prompt, reply and parse is traced.",
        ),
        JobKind(
            "prompts.eval",
            "Evaluate workflow",
            EvalParams,
            "studio_prompts.jobs:run_eval",
            executor="async",
            description="Score a workflow on a dataset with a metric; resumable.",
        ),
        JobKind(
            "prompts.optimize",
            "Optimize workflow",
            OptimizeParams,
            "studio_prompts.jobs:run_optimize",
            executor="async",
            description="Few-shot or instruction optimization; saves a new version.",
        ),
    ]


@hookimpl
def studio_panels():
    return [
        PanelSpec(
            "prompts:editor",
            "Workflow",
            "studio_prompts.qt.workflow_panel:create",
            area="right",
            consumes=(Span, Status),
            visible=False,
        ),
        PanelSpec(
            "prompts:traces",
            "Traces",
            "studio_prompts.qt.trace_panel:create",
            area="bottom",
            consumes=(Span,),
            visible=False,
        ),
    ]


@hookimpl
def studio_workflow_nodes():
    """The built-in node types, for the graph editor's palette. Their ports come from the
    node's signature (predictors), the sub-workflow's inputs and outputs, or the function."""
    engine = "studio_prompts.workflow.graph:builtin_node"  # run by the engine itself, never called
    return [
        NodeType("prompts.predict", "Predict", engine, "Predictors", description="one model call, typed fields"),
        NodeType(
            "prompts.chain_of_thought",
            "Chain of thought",
            engine,
            "Predictors",
            description="reasoning first, then the outputs",
        ),
        NodeType(
            "prompts.react",
            "ReAct agent",
            engine,
            "Predictors",
            description="think, call Python tools, observe; up to max_steps",
        ),
        NodeType(
            "prompts.python",
            "Python function",
            engine,
            "Code",
            outputs=(Port("result", "any"),),
            description="calls module:function with the node's inputs",
        ),
        NodeType("prompts.workflow", "Sub-workflow", engine, "Structure", description="another workflow file"),
    ]


@hookimpl
def studio_commands():
    return [
        CliCommand(
            "workflow",
            "run, evaluate, optimize and export prompt workflows",
            "studio_prompts.cli:configure",
            "studio_prompts.cli:run",
        ),
        # a first step on the home page: the sample workflow (in the workspace's workflows/) in the editor
        MenuAction("prompts.sample", "Open sample workflow", "studio_prompts.qt.workflow_panel:open_sample", home=True),
    ]


@hookimpl
def studio_open_path(path: Path):
    from .workflow.schema import workflow_suffix

    if workflow_suffix(path):
        return OpenAction(description="edit this workflow", panel="prompts:editor")
    return None
