"""The prompt-module plugin's contributions to the studio (job kinds, node types, CLI)."""

from __future__ import annotations

from studio.api import PluginInfo, hookimpl


@hookimpl
def studio_plugin_info():
    return PluginInfo(name="Prompt modules", version="0.1",
                      description="Typed signatures, predictors, modules and workflows run through litellm; "
                                  "evaluation and optimizers; every prompt and reply traced.")
