"""A model call's ``intervention`` setting: a saved intervention file (the trainer's
``studio.intervention/1``) that a local model (``studio/``, ``hf/``: a plugin's in-process
provider, ``LLMProvider.model_refs``) applies while it generates.

The path is absolute, or relative to the active workspace (as the trainer's provider
reads it). Other models cannot apply one: the setting is refused for them, when a
workflow loads and again before a call. The call cache's key includes the file's
content hash (and its numbers file's), so a changed file is never answered from the cache."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from studio.api import active_workspace, contributions

LOCAL_PREFIX = "studio/"
KEY = "intervention"


def local_prefixes() -> tuple[str, ...]:
    """The model-string prefixes of models that run in this process (a plugin provider
    naming the workspace's models: ``studio/``, ``hf/``); they can apply an intervention
    and be inspected down to their tensors."""
    found = tuple(p.prefix for p in contributions("studio_llm_providers") if p.model_refs)
    return found or (LOCAL_PREFIX,)


def is_local(model: str) -> bool:
    return model.startswith(local_prefixes())


def refusal(model: str, value: Any) -> str | None:
    """Why ``value`` cannot be a call's intervention with ``model``; None when it can."""
    if not isinstance(value, str) or not value.strip():
        return f"intervention is the path of an intervention file (.json), got {value!r}"
    if not is_local(model):
        prefixes = " or ".join(local_prefixes())
        return (
            f"intervention applies to local {prefixes} models only (it hooks into the model's layers); "
            f"{model} cannot apply {value}"
        )
    return None


def intervention_path(value: str) -> Path:
    path = Path(value.strip()).expanduser()
    return path if path.is_absolute() else active_workspace() / path


def digest(value: str) -> str:
    """sha256 of the file and its sibling ``.safetensors``; "missing" when unreadable (the
    call then fails with the provider's message, and nothing is cached)."""
    path = intervention_path(value)
    try:
        h = hashlib.sha256(path.read_bytes())
        numbers = path.with_suffix(".safetensors")
        if numbers.is_file():
            h.update(numbers.read_bytes())
    except OSError:
        return "missing"
    return h.hexdigest()
