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
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationInfo
from pydantic_core import PydanticCustomError

from studio.core.files import StudioFileError

from .contexts import Folders
from .items import ModelEntry

log = logging.getLogger(__name__)


class ModelNotFound(StudioFileError):
    """A model field names neither a run of the workspace nor an existing folder; the
    message says which workspace was searched and suggests a close run id."""


def model_folder(ref: str | Path, folders: Folders | None = None) -> Path:
    """The folder ``ref`` names: an existing path as is, a run id as its run folder in
    ``folders`` (default: the active workspace's). Raises :class:`ModelNotFound`, also for
    a name no file system takes (too long, ``~user`` of no such user): one line, never a
    traceback."""
    text = str(ref).strip()
    if not text:
        raise ModelNotFound("no model given: type a run id or a folder, or pick one")
    try:
        return _model_folder(text, folders)
    except RuntimeError:  # Path.expanduser: "~someone" of no such user
        raise ModelNotFound(f"{shown(text)}: no such folder (no user {text[1:].split('/')[0]!r} for ~)") from None
    except (OSError, ValueError) as exc:  # a name over 255 bytes or a path over PATH_MAX, a NUL byte
        raise ModelNotFound(f"{shown(text)}: not a usable folder name ({_why(exc)})") from None


def _model_folder(text: str, folders: Folders | None) -> Path:
    path = Path(text).expanduser()
    if path.exists():
        return path
    folders = _folders(folders)
    try:
        run = folders.run_dir(text)
    except ValueError:  # a path (it has a slash): there is no such folder
        raise ModelNotFound(f"{shown(text)}: no such folder") from None
    if run.is_dir():
        return run
    hint = _hint(text, folders)
    raise ModelNotFound(
        f"no run {shown(text)!r} in the workspace {folders.workspace}, and no folder of that name{hint}"
    )


def shown(text: str, limit: int = 120) -> str:
    """``text`` cut to ``limit`` characters for a message (a pasted 100 kB name stays one line)."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _why(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _folders(folders: Folders | str | Path | None) -> Folders:
    """``folders``, the active workspace's for None; a workspace path is taken as its
    Folders, and anything else is refused now (it would list nothing, silently)."""
    if folders is None:
        from . import workspace_folders

        return workspace_folders()
    if isinstance(folders, Folders):
        return folders
    if isinstance(folders, (str, Path)):
        return Folders(Path(folders))
    raise TypeError(f"expected the Folders of a workspace (or its path), not {type(folders).__name__}")


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


#: files that hold weights as a Python pickle: never loaded (unpickling can run code)
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt", ".pkl"})


def loadable_model(ref: str | Path, folders: Folders | None = None) -> Path:
    """:func:`resolve_model`, and the folder it gives must hold a model a loader opens: a
    ``config.json`` and weights in a ``.safetensors`` file (a trained run's checkpoint, a
    quantized folder, a Hugging Face folder, its weights sharded or not). A run of another
    kind (a self-test), a folder of anything else, or weights only in a PyTorch pickle raise
    :class:`ModelNotFound` saying so. ``stat``s only, no file is read: cheap enough to
    check a model field before a job starts."""
    folder = resolve_model(ref, folders)
    try:
        problem = _not_a_model(folder)
    except OSError as exc:
        raise ModelNotFound(f"{folder}: cannot be read ({_why(exc)})") from None
    if problem:
        raise ModelNotFound(problem)
    return folder


def _not_a_model(folder: Path) -> str | None:
    if not folder.is_dir():
        return f"{folder} is not a folder holding a model (config.json and weights)"
    names = [p for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES or p.suffix == ".safetensors"]
    weights = [p for p in names if p.suffix == ".safetensors" and not p.name.startswith("train_state") and p.is_file()]
    config = (folder / "config.json").is_file()
    if config and weights:
        return None
    pickles = sorted(p.name for p in names if p.suffix in PICKLE_SUFFIXES)
    if pickles and not weights:
        # a Hugging Face folder (config.json beside the pickle) has an opt-in where a tool offers one
        opt_in = (
            "; or, for a Hugging Face folder, allow pickles where the tool offers it (--allow-pickle: "
            "read with weights_only)"
            if config
            else ""
        )
        return (
            f"{folder / pickles[0]} is a PyTorch pickle file, which Tensor Studio does not load unasked "
            f"(unpickling can run code); convert it to model.safetensors{opt_in}"
        )
    missing = " and ".join(what for what, there in (("config.json", config), ("weights", weights)) if not there)
    return f"{folder} holds no model (no {missing}): name a trained run, a checkpoint or a quantized folder"


def submit_folders(info: ValidationInfo) -> Folders | None:
    """In a job's params validator: the workspace the job is being submitted to, or None.

    The job manager validates a job's params with this context when the job is submitted
    (``jobs run``, a panel's Run), before its run folder is made; a form validating what
    is being typed gives none. So a check of what a field names on disk runs only when the
    job is about to start, never on each keystroke (:func:`check_model_field`)."""
    context = info.context
    folders = context.get(SUBMIT_FOLDERS) if isinstance(context, dict) else None
    return folders if isinstance(folders, Folders) else None


#: the key of the submit-time validation context (:func:`submit_folders`)
SUBMIT_FOLDERS = "studio.submit_folders"


def check_model_field(
    value: str | None, info: ValidationInfo, check: Callable[[str, Folders], object] = resolve_model
) -> str | None:
    """A model field's validator: at submit, ``check(value, folders)`` (default
    :func:`resolve_model`: the run or folder exists; :func:`loadable_model`: it holds a
    model; a plugin's own stricter check) and its ``StudioFileError`` becomes the field's
    error, so a bad name is refused before a run folder is made. Nothing is checked while
    a form validates, nor for an empty optional field (None)::

        @field_validator("checkpoint")
        @classmethod
        def _model(cls, value: str, info: ValidationInfo) -> str:
            return check_model_field(value, info)
    """
    folders = submit_folders(info)
    if value is None or folders is None:
        return value
    try:
        check(value, folders)
    except StudioFileError as exc:
        raise PydanticCustomError("model_not_found", "{problem}", {"problem": str(exc)}) from None
    return value


def entries_per_run(
    folders: Folders, entry: Callable[[Path], ModelEntry | None], what: str = "run"
) -> list[ModelEntry]:
    """What a model source lists, one run at a time: ``entry(run_folder)`` for every run of
    the workspace (None: not a model). A run that cannot be read (a dangling or looping
    link, an unreadable folder, a number no float holds) is left out and logged, so one
    broken run never hides the others."""
    try:
        runs = list(Path(folders.runs).iterdir())
    except OSError:  # no runs folder yet
        return []
    entries = []
    for run in runs:
        try:
            found = entry(run)
        except Exception as exc:
            log.warning("%s %s left out of the model list: %s", what, run.name, exc)
            continue
        if found is not None:
            entries.append(found)
    return entries


def list_models(folders: Folders | None = None) -> list[ModelEntry]:
    """Every enabled plugin's models in the workspace ``folders`` (default: the active
    one), newest first. A source that raises is skipped and logged; the rest still list."""
    folders = _folders(folders)
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
