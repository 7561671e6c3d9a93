"""Layering at run time: headless paths load neither Qt nor torch, the window loads neither
torch nor litellm.

The static rules (studio.core/studio.runtime/studio.api import no Qt or torch; plugins use
only studio.api, studio.widgets and studio.testing; plugins are independent) are import-linter
contracts in .importlinter, checked by tests/test_static_checks.py. They see every import in
the source, lazy ones included; these tests see what a process really loads, plugins found
through entry points included.
"""

import configparser
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDIO = ROOT / "studio"
PUBLIC = {"studio.api", "studio.widgets", "studio.testing"}


def test_headless_modules_load_without_qt_or_torch():
    code = (
        "import sys, studio.api, studio.session, studio.cli, studio.runtime.worker, studio.testing;"
        "import studio.core.plugins, studio.core.runs, studio.core.secrets;"
        "s = studio.session.Studio.load(); s.host.job_kinds();"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'qasync', 'torch')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_window_with_every_built_in_panel_does_not_import_torch_or_litellm(studio_home):
    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen';"
        "from studio.session import Studio; from studio.qt.app import ensure_app;"
        "from studio.qt.main_window import MainWindow;"
        "app = ensure_app();"
        "w = MainWindow(Studio.load(), restore_layout=False, quit_on_close=False, confirm_close=False);"
        "[w.show_panel(p) for p in list(w.docks)]; w.show(); app.processEvents();"
        "print(sorted(w.panels)); sys.exit(1 if {'torch', 'litellm'} & set(sys.modules) else 0)"
    )
    env = {**os.environ, "TENSOR_STUDIO_HOME": str(studio_home)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "trainer:train" in result.stdout and "trainer:tokens" in result.stdout


def test_the_plugin_contract_forbids_every_private_studio_module():
    """import-linter can only forbid, not allow: the contract lists every module of studio
    except the public ones, and this keeps that list in step with the package."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / ".importlinter", encoding="utf-8")
    forbidden = set(config["importlinter:contract:plugins-public-api"]["forbidden_modules"].split())
    children = {f"studio.{p.stem}" for p in STUDIO.glob("*.py") if p.stem != "__init__"}
    children |= {f"studio.{p.parent.name}" for p in STUDIO.glob("*/__init__.py")}
    assert forbidden == children - PUBLIC
