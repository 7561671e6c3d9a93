"""The sample workflows, copied into a workspace's ``workflows/`` folder the first time the
studio uses that workspace, so File → Open (and the editor's Open) finds them there.

Copied once per workspace (a note in the plugin's folder says so): a sample the user
deleted or renamed later is not put back, and a file of the user's is never overwritten.
*Open sample workflow* (the home page and the Tools menu) copies ``qa.workflow.json`` again
when it is not there, then opens it. The samples ship inside the plugin (``sample_workflows/``,
package data of the wheel too).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from studio.api import Folders, StudioFileError, write_json

SAMPLES_DIR = Path(__file__).resolve().parent / "sample_workflows"
SAMPLE = "qa.workflow.json"  # the one "Open sample workflow" opens: any model runs it
NOTE = "samples.json"  # in the plugin's folder of the workspace: the samples were copied there


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
        if note.exists():
            return []
        target = folders.workflows
        target.mkdir(parents=True, exist_ok=True)
        copied = [_copy(sample, target) for sample in samples]
        note.parent.mkdir(parents=True, exist_ok=True)
        write_json(note, {"copied": sorted(p.name for p in copied if p is not None)})
    except (OSError, StudioFileError):  # a read-only workspace: no samples, nothing else changes
        return []
    return [p for p in copied if p is not None]


def sample_path(folders: Folders, source: Path = SAMPLES_DIR) -> Path | None:
    """The sample workflow in the workspace, copied again if it is not there (never over a
    file of that name); None when the studio has no samples or the copy failed."""
    sample = source / SAMPLE
    target = folders.workflows / SAMPLE
    if target.is_file():
        return target
    if not sample.is_file():
        return None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy(sample, target.parent)
    except OSError:
        return None
    return target if target.is_file() else None


def _copy(sample: Path, folder: Path) -> Path | None:
    """``sample`` into ``folder`` unless a file of its name is there (exclusive create, so a
    file made meanwhile is not overwritten either). The new file, or None."""
    dest = folder / sample.name
    try:
        with sample.open("rb") as src, dest.open("xb") as out:
            shutil.copyfileobj(src, out)
    except FileExistsError:
        return None
    return dest
