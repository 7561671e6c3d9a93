"""A workspace is a plain folder a person can browse: runs/, workflows/, data/, and one
folder per plugin that keeps files of its own (rag/…), made when it first needs it.
Plugins find these through ``studio.api.Folders``, never by joining paths themselves."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .files import StudioFileError, read_json, write_json

SUBFOLDERS = ("runs", "workflows", "data")
MARKER = "workspace.json"
SCHEMA_VERSION = 1


class WorkspaceError(StudioFileError):
    """The workspace folder is missing, not a workspace, or cannot be written."""


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def workflows(self) -> Path:
        return self.root / "workflows"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def name(self) -> str:
        return self.root.name

    @classmethod
    def create(cls, root: Path) -> Workspace:
        """Create (or complete) a workspace folder; existing files are left as they are."""
        root = Path(root).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"cannot create a workspace at {root}: a file with that name exists")
        for sub in SUBFOLDERS:
            path = root / sub
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # say which path is in the way, not just "File exists"
                if path.exists() and not path.is_dir():
                    problem = f"{path} is a file, not a folder"
                elif path.is_symlink() and not path.exists():
                    problem = f"{path} is a link to nothing (or a loop), not a folder"
                else:
                    problem = f"{exc.filename or path}: {exc.strerror or exc}"
                raise WorkspaceError(f"cannot create a workspace at {root}: {problem}") from exc
        if not (root / MARKER).exists():
            write_json(root / MARKER, {"schema_version": SCHEMA_VERSION, "name": root.name})
        return cls(root)

    @classmethod
    def open(cls, root: Path) -> Workspace:
        """Open an existing workspace; a missing folder is an error (never created silently)."""
        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            raise WorkspaceError(f"workspace folder {root} does not exist")
        if not (root / MARKER).exists():
            raise WorkspaceError(
                f"{root} is not a Tensor Studio workspace (no {MARKER}); use New workspace to make one"
            )
        meta = read_json(root / MARKER)
        version = meta.get("schema_version", 0) if isinstance(meta, dict) else 0
        if version > SCHEMA_VERSION:
            raise WorkspaceError(f"{root} was made by a newer Tensor Studio (schema {version}); please upgrade")
        for sub in SUBFOLDERS:  # older or hand-made workspaces may lack a folder
            try:
                (root / sub).mkdir(exist_ok=True)
            except OSError:  # a full or read-only disk: reading still works; writing says why
                pass
        return cls(root)

    def check_writable(self) -> None:
        """Raise a clear WorkspaceError if runs cannot be written here (read-only disk, permissions)."""
        if not os.access(self.runs, os.W_OK):
            raise WorkspaceError(f"workspace {self.root} is not writable: check permissions or free space")
