"""Trainer presets: named training settings as readable JSON files.

A preset is a TrainParams JSON object (any subset; the rest take defaults) with an optional
``"description"``. TrainParams ignores keys it does not know, so a preset file is also a
params file for the CLI: ``tensor-studio jobs run trainer.train --params PRESET.json``.
Built-in presets ship in ``presets/`` beside this module; the user's own live in the
trainer's folder of the workspace (``<workspace>/trainer/presets/``: :func:`user_dir` of
``ctx.data_dir``), where they can be diffed and shared. No Qt, no torch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .config import TrainParams

BUILTIN_DIR = Path(__file__).parent / "presets"


class PresetError(ValueError):
    """A preset file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Preset:
    name: str
    path: Path
    builtin: bool
    description: str


def user_dir(data_dir: Path) -> Path:
    """The user's presets in the trainer's own folder of a workspace (``ctx.data_dir``)."""
    return Path(data_dir) / "presets"


def list_presets(folder: Path | None) -> list[Preset]:
    """Built-in presets, then the user's in ``folder`` (:func:`user_dir`), each sorted by
    name. Unreadable files are listed too (with the problem as their description), so the
    user sees them."""
    found = []
    folders = [(BUILTIN_DIR, True)] + ([(Path(folder), False)] if folder else [])
    for folder, builtin in folders:
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                description = str(_read(path).get("description", ""))
            except PresetError as exc:
                description = f"⚠ {exc}"
            found.append(Preset(path.stem, path, builtin, description))
    return found


def load_preset(path: Path) -> dict[str, Any]:
    """The preset's settings as a TrainParams dict (without its description), checked."""
    values = {k: v for k, v in _read(path).items() if k != "description"}
    try:
        TrainParams.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise PresetError(f"preset {path.name}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    return values


def save_preset(
    folder: Path, name: str, values: dict[str, Any], description: str = "", overwrite: bool = False
) -> Path:
    """Write ``values`` as ``<folder>/<name>.json`` (``folder``: :func:`user_dir`); an existing
    preset is only replaced with ``overwrite``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    if not slug:
        raise PresetError("a preset needs a name made of letters, digits, '.', '_' or '-'")
    TrainParams.model_validate(values)
    path = Path(folder) / f"{slug}.json"
    if path.exists() and not overwrite:
        raise FileExistsError(f"a preset named {slug} exists: {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = ({"description": description} if description else {}) | values
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)  # never a half-written preset
    return path


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PresetError(f"preset {Path(path).name} cannot be read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PresetError(f"preset {Path(path).name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PresetError(f"preset {Path(path).name} must hold a JSON object of training settings")
    return data
