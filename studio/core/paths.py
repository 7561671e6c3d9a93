"""Where the studio keeps its files, following each OS's conventions (platformdirs).

``TENSOR_STUDIO_HOME`` puts config and data under one folder instead (tests, portable use).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "tensor-studio"


def _home() -> Path | None:
    value = os.environ.get("TENSOR_STUDIO_HOME")
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    home = _home()
    return home / "config" if home else platformdirs.user_config_path(APP, appauthor=False)


def data_dir() -> Path:
    home = _home()
    return home / "data" if home else platformdirs.user_data_path(APP, appauthor=False)


def default_workspace() -> Path:
    return data_dir() / "workspace"
