"""The sample workflows, copied into a workspace's ``workflows/`` folder the first time the
studio uses that workspace, so File → Open (and the editor's Open) finds them there.

Copied once per workspace (a note in the plugin's folder says so, written before anything is
copied: a workspace where the note cannot be written gets no copies, or deleted samples
would come back at every start): a sample the user deleted or renamed later is not put
back, and a file of the user's is never overwritten. *Open sample workflow* (the home page
and the Tools menu) opens ``qa.workflow.json`` — copied again when it is not there, or
under a free name (``qa-sample.workflow.json``…) when something else has its name. The
samples ship inside the plugin (``sample_workflows/``, package data of the wheel too).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from studio.api import Folders, StudioFileError, write_json

from .workflow.schema import WorkflowError, parse_workflow_text, read_workflow_text

SAMPLES_DIR = Path(__file__).resolve().parent / "sample_workflows"
SAMPLE = "qa.workflow.json"  # the one "Open sample workflow" opens: any model runs it
NOTE = "samples.json"  # in the plugin's folder of the workspace: the samples were copied there
FREE_NAMES = 50  # qa-sample.workflow.json, qa-sample-2… qa-sample-50: then the folder is said to be full of them


class SampleError(Exception):
    """The studio has no sample workflow to open (an install without ``sample_workflows/``)."""


@dataclass(frozen=True)
class SampleCopy:
    """What *Open sample workflow* opens: ``path``, the sample in the workspace, or None when
    it could not be copied there (open ``shipped`` unsaved instead: never the install's file).
    ``problem`` is what to tell the user ("" when the sample is ``workflows/qa.workflow.json``)."""

    path: Path | None
    shipped: Path
    problem: str = ""


def sample_files(source: Path = SAMPLES_DIR) -> list[Path]:
    return sorted(source.glob("*.workflow.*")) if source.is_dir() else []


def copy_samples(folders: Folders, plugin_id: str, source: Path = SAMPLES_DIR) -> list[Path]:
    """On a workspace's first use: copy the samples into its workflows folder, skipping
    any name a file already has. The files copied ([] when the workspace had its samples
    already, there are none to copy, or the workspace cannot be written)."""
    samples = sample_files(source)
    if not samples:
        return []
    try:
        note = folders.plugin_dir(plugin_id, create=False) / NOTE
        if note.exists() or note.is_symlink():
            return []
        target = folders.workflows
        target.mkdir(parents=True, exist_ok=True)
        # the note first: where it cannot be written, copies would be made again at every start
        folders.plugin_dir(plugin_id)
        write_json(note, {"copied": []})
    except (OSError, StudioFileError):  # a read-only workspace: no samples, nothing else changes
        return []
    copied, failed = [], False
    for sample in samples:
        try:
            dest = _copy(sample, target)
        except OSError:  # a read-only folder, a full disk: what was copied stays
            failed = True
            continue
        if dest is not None:
            copied.append(dest)
    try:
        if failed and not copied:  # nothing copied, so nothing can come back: try again next time
            note.unlink()
        else:
            write_json(note, {"copied": sorted(p.name for p in copied)})
    except (OSError, StudioFileError):
        pass  # the note is there already: its list is for people only
    return copied


def sample_path(folders: Folders, source: Path = SAMPLES_DIR) -> SampleCopy:
    """The sample workflow in the workspace: ``workflows/qa.workflow.json`` when that is the
    sample (as shipped, or a workflow of the sample's name: the user's edits of it), copied
    there when the name is free; when something else has the name (a file of the user's, a
    folder, a FIFO, a link to nothing) a copy under a free name, ``qa-sample.workflow.json``…
    Nothing is ever overwritten. ``path`` None when no copy can be made (the folder is
    read-only, or is a file): ``problem`` says why. SampleError when the studio has no sample."""
    shipped = source / SAMPLE
    try:
        data = shipped.read_bytes()
    except OSError:
        raise SampleError(
            f"The sample workflows are not installed with this copy of the studio ({shipped} is missing or unreadable)."
        ) from None
    try:
        name: str | None = parse_workflow_text(data.decode("utf-8"), str(shipped)).name
    except (UnicodeDecodeError, WorkflowError):
        name = None  # then only a file the same as the shipped one is the sample
    folder = folders.workflows
    if os.path.lexists(folder) and not folder.is_dir():
        what = "a file" if folder.exists() else "a link to nothing (or a loop)"
        return SampleCopy(None, shipped, f"{folder} is {what}, not a folder, so the sample cannot be copied there")
    problem = ""
    stem = SAMPLE.removesuffix(".workflow.json")
    names = [SAMPLE, *(f"{stem}-sample{'' if n == 1 else f'-{n}'}.workflow.json" for n in range(1, FREE_NAMES + 1))]
    for candidate in names:
        target = folder / candidate
        found = target if _is_sample(target, data, name) else None
        if found is None and not os.path.lexists(target):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                found = _copy(shipped, folder, candidate)  # None: made meanwhile, so the next name
            except OSError as exc:
                return SampleCopy(None, shipped, f"the sample cannot be copied into {folder}: {exc.strerror or exc}")
        if found is not None:
            if problem:
                problem += f": the sample opens as workflows/{candidate} instead"
            return SampleCopy(found, shipped, problem)
        if candidate == SAMPLE:
            problem = f"workflows/{SAMPLE} is {_what(target)}"
    return SampleCopy(None, shipped, f"{folder} has {SAMPLE} and {FREE_NAMES} other files of the sample's names")


def _is_sample(path: Path, shipped: bytes, name: str | None) -> bool:
    """``path`` is a regular file that is the sample as shipped, or a workflow of its name."""
    try:
        if not path.is_file():
            return False
        text, data = read_workflow_text(path)
        return data == shipped or (name is not None and parse_workflow_text(text, str(path)).name == name)
    except (OSError, WorkflowError):
        return False


def _what(path: Path) -> str:
    """What is at ``path`` instead of the sample, in a few words."""
    if not path.exists():
        return "a link to nothing, not a file"
    if path.is_dir():
        return "a folder, not a file"
    if not path.is_file():
        return "not a file (a FIFO, device or socket)"
    return "not the sample (a file of yours?)"


def _copy(sample: Path, folder: Path, name: str | None = None) -> Path | None:
    """``sample`` into ``folder`` (as ``name``) unless something has that name (exclusive
    create: a file made meanwhile, or a link, is not written through either). The new file,
    or None. A copy that fails half-way is removed."""
    dest = folder / (name or sample.name)
    try:
        with sample.open("rb") as src, dest.open("xb") as out:
            try:
                shutil.copyfileobj(src, out)
            except OSError:
                dest.unlink(missing_ok=True)  # ours: made by the exclusive create above
                raise
    except FileExistsError:
        return None
    return dest
