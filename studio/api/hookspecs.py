"""The hooks a plugin may implement, and pluggy's markers for them.

The specs stay in the shell even for hooks only one plugin consumes (workflow nodes are
the prompt engine's, model parts the trainer's): a plugin that contributes a node or an
attention type then needs only ``studio.api``, never the consuming plugin, and it keeps
working (contributing nothing) when that plugin is disabled. See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from pathlib import Path

import pluggy

from .items import (
    CliCommand,
    JobKind,
    LLMProvider,
    MenuAction,
    ModelLoader,
    ModelPart,
    ModelSource,
    NodeType,
    OpenAction,
    PanelSpec,
    PluginInfo,
    WeightReader,
)

PROJECT = "tensor_studio"
ENTRY_POINT_GROUP = "tensor_studio.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class HookSpecs:
    """The hooks a plugin may implement. Collecting hooks return a list; the studio calls
    each plugin's implementation separately, so one plugin's error hides nothing else."""

    @hookspec
    def studio_plugin_info(self) -> PluginInfo:
        """Name, version, description and icon of this plugin."""

    @hookspec
    def studio_job_kinds(self) -> list[JobKind]:
        """Job kinds this plugin can run."""

    @hookspec
    def studio_panels(self) -> list[PanelSpec]:
        """Dockable panels."""

    @hookspec
    def studio_workflow_nodes(self) -> list[NodeType]:
        """Node types for the workflow graph editor."""

    @hookspec
    def studio_llm_providers(self) -> list[LLMProvider]:
        """Model backends beyond litellm's own."""

    @hookspec
    def studio_commands(self) -> list[MenuAction | CliCommand]:
        """Menu actions and CLI sub-commands."""

    @hookspec
    def studio_model_parts(self) -> list[ModelPart]:
        """Attention types and blocks for the trainer's model registry."""

    @hookspec
    def studio_model_loaders(self) -> list[ModelLoader]:
        """Checkpoint kinds other plugins can load and measure (see ``LoadedModel``)."""

    @hookspec
    def studio_weight_readers(self) -> list[WeightReader]:
        """Other forms of stored weights that checkpoint loaders can read."""

    @hookspec
    def studio_model_sources(self) -> list[ModelSource]:
        """Where this plugin's models are: trained runs, quantized folders, downloaded
        models. The shell lists every enabled plugin's (``studio.api.list_models``: the model
        picker, newest first) and resolves a model field through them
        (``studio.api.resolve_model``: a run id → its run folder → the model folder the
        source says that folder stands for). A source whose ``list`` raises is skipped and
        logged; the others still list. See :class:`~studio.api.ModelSource`."""

    @hookspec(firstresult=True)
    def studio_open_path(self, path: Path) -> OpenAction | None:
        """Claim an opened or dropped file or folder; return None to pass."""
