"""The Inspector's work on the worker thread (the engine, imported there: it needs torch)
and the small conversions the panel needs; no Qt."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from studio.api import Folders

PREFIX = "studio/"  # a model call's model string: studio/<run id or folder>
PREFIXES = (PREFIX, "hf/")  # and hf/<folder>: a Hugging Face folder's


def run_inspection(
    model: str, text: str, top_k: int, folders: Folders, reply_start: int | None, prompt: str | None, record: Any
) -> tuple[Any, tuple[bool, str] | None]:
    """On the worker thread: the inspection, its reply start (from the prompt's characters
    when only those are known), and the verdict on a recorded call. A text longer than the
    context is inspected over its last context-long window (the window generation saw)."""
    from ...inspect import inspect_record, inspect_text

    if record is not None:  # by the recorded token ids: the check compares like with like
        inspection = inspect_record(record, top_k=top_k, folders=folders)
    else:
        inspection = inspect_text(model, text, top_k=top_k, folders=folders, reply_start=reply_start, last=True)
    if inspection.reply_start is None and prompt:
        at = max(0, len(text) - sum(len(token) for token in inspection.tokens))  # the window's first character
        if at >= len(prompt):
            inspection.reply_start = 0
        for i, token in enumerate(inspection.tokens if at < len(prompt) else []):
            if at >= len(prompt):
                inspection.reply_start = i
                break
            at += len(token)
    verdict = inspection.check_record(record) if record is not None else None
    return inspection, verdict


def load_inspection(folder: Path) -> tuple[Any, None]:
    from ...inspect import Inspection

    return Inspection.load(folder), None


def json_safe(value: Any) -> Any:
    """NaN and infinities (the first token's log-probability) as null: strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist"):
        return json_safe(value.tolist())
    return value


def shown_model(model: str, folders: Folders | None) -> str:
    """A model string as the Inspector's model box shows it: without ``studio/`` (``hf/``), and a
    folder of one of the workspace's runs (a provider's resolved checkpoint) as that run's
    id when the id names the same checkpoint."""
    ref = model_ref(str(model))
    runs = getattr(folders, "runs", None)
    if not ref or runs is None:
        return ref
    try:
        path = Path(ref).resolve()
        parts = path.relative_to(Path(runs).resolve()).parts
        if not parts or not Path(ref).is_absolute():
            return ref
        from ...checkpoint_folders import resolve_checkpoint  # files only, no torch

        if len(parts) == 1 or resolve_checkpoint(parts[0], folders, prefer="best").resolve() == path:
            return parts[0]
    except Exception:  # not inside the runs folder, no such run: shown as given
        return ref
    return ref


def model_ref(model: str) -> str:
    """``studio/<ref>`` or ``hf/<ref>`` → ``<ref>`` (as ``inspect.load.model_ref``, without torch)."""
    model = model.strip()
    for prefix in PREFIXES:
        if model.startswith(prefix) and not Path(model).exists():
            return model[len(prefix) :]
    return model
