"""Where a training run keeps its checkpoints, and what counts as a checkpoint folder.

Read without torch (the hooks and the Trainer panel use it). Inside a run folder — the
studio's (``ctx.run_dir``); where run folders live is the studio's business, not this
module's — the trainer writes::

    <run folder>/checkpoints/step-000500/   a checkpoint (train/checkpoint.py: its files)
    <run folder>/checkpoints/best/
    <run folder>/checkpoints/latest.json    {"path": "step-000500", "step": 500}
"""

from __future__ import annotations

import re
from pathlib import Path

from studio.api import (
    PICKLE_SUFFIXES,
    Folders,
    ModelNotFound,
    StudioFileError,
    contributions,
    model_folder,
    read_json,
    resolve_model,
)

from .config import CHECKPOINT_FORMAT
from .hf.folder import check_folder, info, is_hf_folder

CHECKPOINTS = "checkpoints"  # the folder of a run's checkpoints
LATEST = "latest.json"  # {"path": "<a checkpoint folder's name in checkpoints/>", "step": n}


class CheckpointError(StudioFileError):
    """A checkpoint that cannot be found or used; the message says which and why."""


def shown(text: str, limit: int = 120) -> str:
    """``text`` cut for a message: a pasted 100 kB name keeps the message one line."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def checkpoints_dir(run_dir: Path) -> Path:
    """The checkpoints folder of a run folder."""
    return Path(run_dir) / CHECKPOINTS


def run_of_checkpoint(checkpoint: Path) -> Path | None:
    """The run folder a checkpoint was saved in (``<run folder>/checkpoints/<name>``), or
    None for a checkpoint folder kept anywhere else."""
    holder = Path(checkpoint).parent
    return holder.parent if holder.name == CHECKPOINTS else None


def is_checkpoint(path: Path) -> bool:
    """A checkpoint folder: config.json, and model.safetensors or weights stored another way
    (a quantized checkpoint keeps the trainer's config.json); or a Hugging Face model folder."""
    if not (path / "config.json").exists():
        return False
    if is_hf_folder(path):
        return info(path) is not None  # a causal LM (an encoder's folder is not a model to generate from)
    if (path / "model.safetensors").exists():
        return True
    try:
        config = read_json(path / "config.json")
    except StudioFileError:
        return False
    return isinstance(config, dict) and config.get("format") == CHECKPOINT_FORMAT


def checkpoint_of(folder: Path, prefer: str = "best") -> Path | None:
    """The checkpoint a folder stands for: the folder itself when it is one; for a run
    folder (or its ``checkpoints/`` folder) the best one when ``prefer`` is "best" (the
    latest.json one when "latest"), else the newest step checkpoint; None for a folder
    holding no checkpoint. Reads latest.json only (no torch): the ``resolve`` of the
    trainer's model source (``studio.api.resolve_model``). A latest.json that cannot be
    used is passed over here (:func:`resolve_checkpoint` says what is wrong with it)."""
    folder = Path(folder)
    if is_checkpoint(folder):
        return folder
    holder = checkpoints_dir(folder) if checkpoints_dir(folder).is_dir() else folder
    if prefer == "latest":
        try:
            latest = latest_checkpoint(holder)
        except CheckpointError:
            latest = None
        if latest is not None and is_checkpoint(latest):
            return latest
    return next((p for p in (holder / "best", *_steps(holder)) if is_checkpoint(p)), None)


def _steps(holder: Path) -> list[Path]:
    """The step checkpoints of a checkpoints folder, newest first."""
    return sorted((p for p in holder.glob("step-*") if re.fullmatch(r"step-\d+", p.name)), reverse=True)


def latest_checkpoint(holder: Path) -> Path | None:
    """The checkpoint ``holder/latest.json`` names (None: there is no latest.json). It may
    name only a folder inside ``holder`` (a plain name: no separator, not ``..``), as the
    trainer writes it; anything else (a path elsewhere, a number, broken JSON) raises
    :class:`CheckpointError`: a hand-edited or planted file never sends a resume, a
    tokenizer or a model load outside the run."""
    path = holder / LATEST
    if not path.exists() and not path.is_symlink():
        return None
    try:
        data = read_json(path)
    except StudioFileError as exc:  # its message names the file
        raise CheckpointError(str(exc)) from None
    name = data.get("path") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise CheckpointError(f'{path} is unreadable: expected {{"path": "<checkpoint folder name>", …}}')
    if "/" in name or "\\" in name or "\0" in name or name in (".", ".."):
        raise CheckpointError(f"{path} points outside {holder} ({shown(name)!r}): it may name only a folder there")
    return holder / name


def has_weights(folder: Path) -> bool:
    """model.safetensors, adapter.safetensors (a LoRA fine-tune of a Hugging Face model: the
    adapters, on the base its config.json names), or weights in a form a plugin reads
    (``studio_weight_readers``)."""
    if (folder / "model.safetensors").exists() or (folder / "adapter.safetensors").exists():
        return True
    return any((folder / reader.marker).exists() for reader in contributions("studio_weight_readers"))


def resolve_checkpoint(ref: str | Path, where: Folders | Path | None = None, prefer: str = "latest") -> Path:
    """A checkpoint folder from a checkpoint folder, a run folder or a run id. A run id is a
    run of the workspace ``where`` names (its ``Folders``; None: the active workspace), found
    by the shell's resolver (``studio.api.model_folder``), as every model field does; a
    runs folder (a Path) is still taken. A folder another plugin knows (a quantize run)
    stands for the model its model source says (``studio.api.resolve_model``).

    No torch, files only: the params check at submit uses it too. Every problem is a
    :class:`CheckpointError` of one line: nothing given, a name no file system takes, a
    latest.json pointing outside the run, weights only in a pickle (never loaded)."""
    text = str(ref).strip()
    if not text:
        raise CheckpointError("no model given: type a run id or a folder, or pick one")
    try:
        path = _named(text, where)
        return _checkpoint_in(path, text, prefer)
    except ModelNotFound as exc:
        raise CheckpointError(f"no checkpoint, run folder or run id {shown(text)!r}: {exc}") from None
    except CheckpointError:
        raise
    except StudioFileError as exc:  # another plugin's model source said what is wrong
        raise CheckpointError(str(exc)) from None
    except (OSError, ValueError) as exc:  # unreadable folders, a name too long for a path
        why = getattr(exc, "strerror", None) or str(exc)
        raise CheckpointError(f"{shown(text)}: cannot be read as a checkpoint ({why})") from None


def _named(text: str, where: Folders | Path | str | None) -> Path:
    if not isinstance(where, (str, Path)):
        return model_folder(text, where)
    try:
        path = Path(text).expanduser()
    except RuntimeError:  # "~someone" of no such user
        raise ModelNotFound(f"{shown(text)}: no such folder") from None
    if path.exists():
        return path
    runs = Path(where)
    if "/" not in text and "\\" not in text and text not in (".", "..") and (runs / text).exists():
        return runs / text  # a run id of that runs folder
    raise ModelNotFound(f"no run {shown(text)!r} in {runs}, and no folder of that name")


def _checkpoint_in(path: Path, text: str, prefer: str) -> Path:
    if path.is_dir() and not (path / "config.json").exists() and not checkpoints_dir(path).is_dir():
        path = resolve_model(path)  # not the trainer's folder: a quantize run's, a Hugging Face cache entry
    if is_hf_folder(path):
        # its own checks: remote code, no weights (a hub id never downloaded); pickled
        # weights pass here and are refused at load unless allowed (allow_pickle)
        check_folder(path, allow_pickle=True)
        return path
    if (path / "config.json").exists() and has_weights(path):
        return path
    folder = checkpoints_dir(path) if checkpoints_dir(path).is_dir() else path
    if prefer == "latest":
        latest = latest_checkpoint(folder)
        if latest is not None:
            if not latest.is_dir():
                raise CheckpointError(f"{folder / LATEST} names {latest.name}, which is not there")
            return latest
    candidates = [folder / "best", *_steps(folder)] if path.is_dir() else []
    for candidate in candidates:
        if (candidate / "config.json").exists() and has_weights(candidate):
            return candidate
    if not path.exists():
        raise CheckpointError(f"no checkpoint, run folder or run id {shown(text)!r}")
    for place in (path, *(c for c in candidates if c.is_dir())):
        pickles = sorted(p.name for p in place.glob("*") if p.suffix in PICKLE_SUFFIXES) if place.is_dir() else []
        if pickles or place.suffix in PICKLE_SUFFIXES:
            raise CheckpointError(
                f"{place / pickles[0] if pickles else place} is a PyTorch pickle file, which Tensor Studio "
                "never loads (unpickling can run code); convert it to model.safetensors"
            )
    raise CheckpointError(f"{path} holds no checkpoint (expected config.json and model.safetensors)")
