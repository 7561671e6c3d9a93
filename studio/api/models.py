"""Naming a model: one resolver for every model field, and one listing for every picker.

A model field (Generate's checkpoint, the Quantizer's, a workflow's ``studio/<model>``, a
CLI argument) takes any of:

* a **run id** of the workspace (``20261130-202707-trainer.train-91d0``): the shell maps it
  to its run folder (``Folders.run_dir``);
* a **folder**: a run folder, a checkpoint folder, a quantized folder (``~`` expanded).

:func:`model_folder` does that first step; :func:`resolve_model` then asks the plugins'
model sources (``studio_model_sources``) which model folder the folder stands for — the
trainer answers for training runs (their checkpoint), the quantizer for quantize runs
(their quantized folder) — so a plugin never needs to know another's folder layout.
:func:`list_models` collects what the sources list, for the model picker.

Which workspace: the one given, else the active one (:func:`studio.api.active_workspace`:
the studio's own in its process and its workers). Plain files, no Qt, no torch.
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

from studio.core.files import StudioFileError

from .contexts import Folders
from .items import ModelEntry

log = logging.getLogger(__name__)


class ModelNotFound(StudioFileError):
    """A model field names neither a run of the workspace nor an existing folder; the
    message says which workspace was searched and suggests a close run id."""


def model_folder(ref: str | Path, folders: Folders | None = None) -> Path:
    """The folder ``ref`` names: an existing path as is, a run id as its run folder in
    ``folders`` (default: the active workspace's). Raises :class:`ModelNotFound`."""
    text = str(ref).strip()
    if not text:
        raise ModelNotFound("no model given: type a run id or a folder, or pick one")
    path = Path(text).expanduser()
    if path.exists():
        return path
    if folders is None:
        from . import workspace_folders

        folders = workspace_folders()
    try:
        run = folders.run_dir(text)
    except ValueError:  # a path (it has a slash): there is no such folder
        raise ModelNotFound(f"{text}: no such folder") from None
    if run.is_dir():
        return run
    hint = _hint(text, folders)
    raise ModelNotFound(f"no run {text!r} in the workspace {folders.workspace}, and no folder of that name{hint}")


def _hint(text: str, folders: Folders) -> str:
    try:
        ids = [p.name for p in folders.runs.iterdir() if p.is_dir()]
    except OSError:
        return " (the workspace has no runs yet)"
    close = difflib.get_close_matches(text, ids, n=1, cutoff=0.6) or [i for i in ids if text and text in i][:1]
    return f"; did you mean {close[0]}?" if close else ""


def resolve_model(ref: str | Path, folders: Folders | None = None) -> Path:
    """The folder that holds the model ``ref`` names: :func:`model_folder`, then the first
    model source whose ``resolve`` claims it (a training run → its checkpoint). A folder no
    source claims is returned as it is: the loader that opens it says what is missing."""
    folder = model_folder(ref, folders)
    from studio.core.plugins import process_host  # lazy: keeps this module light

    from . import resolve

    for plugin_id, source in process_host().collect("studio_model_sources"):
        if not source.resolve:
            continue
        try:
            found = resolve(source.resolve)(folder)
        except StudioFileError:
            raise  # the source's own message: an unreadable latest.json, say
        except Exception as exc:
            log.warning("model source %s (%s) could not resolve %s: %s", source.id, plugin_id, folder, exc)
            continue
        if found is not None:
            return Path(found)
    return folder


def list_models(folders: Folders | None = None) -> list[ModelEntry]:
    """Every enabled plugin's models in the workspace ``folders`` (default: the active
    one), newest first. A source that raises is skipped and logged; the rest still list."""
    if folders is None:
        from . import workspace_folders

        folders = workspace_folders()
    from studio.core.plugins import process_host

    from . import resolve

    entries: list[ModelEntry] = []
    for plugin_id, source in process_host().collect("studio_model_sources"):
        try:
            listed = list(resolve(source.list)(folders) or [])
        except Exception as exc:
            log.warning("model source %s (%s) failed to list models: %s", source.id, plugin_id, exc)
            continue
        entries.extend(e for e in listed if isinstance(e, ModelEntry))
    return sorted(entries, key=lambda e: e.modified, reverse=True)
