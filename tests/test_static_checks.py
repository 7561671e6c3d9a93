"""Static checks (issue 16), as scripts/check.sh runs them: ruff (lint and format), mypy and
the import contracts of .importlinter (one test per contract, so a broken one does not hide
the others). Each tool runs from this interpreter's environment; on failure the test prints
what the tool printed. Configuration: pyproject.toml ([tool.ruff], [tool.mypy]), .importlinter.
"""

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def check(args: list[str], timeout: float = 300, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if result.returncode != 0:
        print(result.stdout, result.stderr, sep="\n")
    assert result.returncode == 0, (
        f"{' '.join(args)} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )


def test_ruff_check():
    check(["-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."])


def test_ruff_format():
    check(["-m", "ruff", "format", "--check", "--no-cache", "."])  # its cache once hid an unformatted file


@pytest.mark.slow  # about a minute without its cache (.venv/mypy-cache), a few seconds with it
@pytest.mark.timeout(900)
def test_mypy():
    check(["-m", "mypy"], timeout=840)


def contracts() -> list[str]:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / ".importlinter", encoding="utf-8")
    return [
        s.removeprefix("importlinter:contract:") for s in config.sections() if s.startswith("importlinter:contract:")
    ]


@pytest.mark.parametrize("contract", contracts())
def test_import_contract(contract):
    # the example plugin is a root package of the contracts: it must be importable
    path = os.pathsep.join(filter(None, [str(ROOT / "examples" / "studio-hello-plugin"), os.environ.get("PYTHONPATH")]))
    check(
        ["-c", LINT_IMPORTS, "--contract", contract, "--cache-dir", str(ROOT / ".venv" / "import-linter-cache")],
        env={**os.environ, "PYTHONPATH": path},
    )
