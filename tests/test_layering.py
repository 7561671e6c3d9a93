"""studio.core, studio.runtime and the worker never import Qt; headless paths never import torch."""

import ast
import subprocess
import sys
from pathlib import Path

STUDIO = Path(__file__).resolve().parents[1] / "studio"


def test_core_and_runtime_sources_do_not_import_qt():
    offenders = []
    for folder in ("core", "runtime"):
        for path in (STUDIO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                if any(n.split(".")[0] in ("PySide6", "pyqtgraph", "qasync", "shiboken6") for n in names):
                    offenders.append(f"{path.name}: {names}")
    assert offenders == []


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


PLUGINS = STUDIO.parent / "plugins"
PUBLIC = {"studio.api", "studio.widgets", "studio.testing"}


def test_built_in_plugins_use_only_the_public_api():
    """Plugin code, not its tests (GUI tests build a main window, as the studio does)."""
    offenders = []
    for path in PLUGINS.rglob("*.py"):
        if "tests" in path.relative_to(PLUGINS).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(PLUGINS)}: {n}" for n in names
                          if (n == "studio" or n.startswith("studio.")) and n not in PUBLIC]
    assert offenders == []


def test_the_window_with_every_built_in_panel_does_not_import_torch_or_litellm(studio_home):
    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen';"
        "from studio.session import Studio; from studio.qt.app import ensure_app;"
        "from studio.qt.main_window import MainWindow;"
        "app = ensure_app(); w = MainWindow(Studio.load(), restore_layout=False, quit_on_close=False, confirm_close=False);"
        "[w.show_panel(p) for p in list(w.docks)]; w.show(); app.processEvents();"
        "print(sorted(w.panels)); sys.exit(1 if {'torch', 'litellm'} & set(sys.modules) else 0)"
    )
    env = {**__import__("os").environ, "TENSOR_STUDIO_HOME": str(studio_home)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "trainer:train" in result.stdout and "trainer:tokens" in result.stdout
