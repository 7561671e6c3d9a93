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
