"""What this plugin adds to the studio: the entry point named in pyproject.toml.

Every contribution is declared here and nothing else is done here: heavy code (the job's
runner, the panel's widgets) is named by ``"module:function"`` and imported only when used.
"""

from __future__ import annotations

from studio.api import JobKind, ModelPart, NodeType, PanelSpec, PluginInfo, Port, hookimpl

from .config import CountParams
from .nodes import GreetParams


@hookimpl
def studio_plugin_info() -> PluginInfo:
    return PluginInfo(name="Hello", version="0.1.0", description="A job, a panel, a workflow node, an attention.")


@hookimpl
def studio_job_kinds() -> list[JobKind]:
    return [
        JobKind(
            id="hello.count",
            title="Count",
            params=CountParams,
            runner="studio_hello.jobs:count",  # "module:function", imported in the worker process
            executor="process",  # a worker process (heavy compute); "async" runs in the studio's event loop
            description="counts to a number, reporting progress and a metric",
        )
    ]


@hookimpl
def studio_panels() -> list[PanelSpec]:
    return [PanelSpec(id="hello:panel", title="Hello", factory="studio_hello.qt.hello_panel:create")]


@hookimpl
def studio_workflow_nodes() -> list[NodeType]:
    return [
        NodeType(
            id="hello.greet",
            title="Greet",
            runner="studio_hello.nodes:greet",  # runner(params, inputs) -> outputs
            category="Text",
            inputs=(Port("name", "str"),),
            outputs=(Port("greeting", "str"),),
            params=GreetParams,
            description="a greeting for a name (no model call)",
        )
    ]


@hookimpl
def studio_model_parts() -> list[ModelPart]:
    return [
        ModelPart(
            id="hello.decay",
            kind="attention",  # factory(config) -> nn.Module, (B, T, C) -> (B, T, C), causal
            title="Decay attention",
            factory="studio_hello.attention:DecayAttention",  # imported only where a model is built
            description="a running average of past values that fades by a learned rate per head",
        )
    ]
