"""``tensor-studio plugin new NAME``: the project it writes installs with pip, is found through
its entry point, runs its job from the CLI and passes its own tests; a bad name, a taken id
or a folder that is not empty is refused in one line (exit 2) and nothing is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from studio.cli import main
from studio.scaffold import ScaffoldError, check_name, render, substitute

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "studio-hello-plugin"

FILES = [
    ".gitignore",
    "README.md",
    "pyproject.toml",
    "studio_word_count/__init__.py",
    "studio_word_count/config.py",
    "studio_word_count/hooks.py",
    "studio_word_count/jobs.py",
    "studio_word_count/qt/__init__.py",
    "studio_word_count/qt/word_count_panel.py",
    "tests/conftest.py",
    "tests/test_word_count.py",
]


@pytest.fixture(autouse=True)
def home(studio_home):
    return studio_home


def test_new_writes_the_project(tmp_path, capsys):
    assert main(["plugin", "new", "word_count", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    project = tmp_path / "studio-word-count-plugin"
    assert f"created {project}" in out and f"pip install -e {project}" in out
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()) == FILES
    for name in FILES:
        text = (project / name).read_text(encoding="utf-8")
        assert "{{" not in text, name
        if name.endswith(".py"):
            compile(text, name, "exec")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == "studio-word-count-plugin"
    assert pyproject["project"]["entry-points"]["tensor_studio.plugins"] == {"word_count": "studio_word_count.hooks"}
    assert pyproject["project"]["dependencies"] == ["tensor-studio>=0.1.0"]
    hooks = (project / "studio_word_count" / "hooks.py").read_text(encoding="utf-8")
    assert 'id="word_count.count"' in hooks and 'factory="studio_word_count.qt.word_count_panel:create"' in hooks
    assert "class WordCountPanel(QtWidgets.QWidget, Panel)" in (project / FILES[8]).read_text(encoding="utf-8")


def test_plugins_new_is_the_same_command_and_an_empty_folder_is_used(tmp_path, capsys):
    (tmp_path / "studio-tool-plugin").mkdir()
    assert main(["plugins", "new", "tool", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "studio-tool-plugin" / "studio_tool" / "hooks.py").is_file()


@pytest.mark.parametrize(
    "name, message",
    [
        ("Hello", "plugin name 'Hello' is not valid: use lowercase letters, digits and '_'"),
        ("my-tool", "plugin name 'my-tool' is not valid"),
        ("1st", "is not valid"),
        ("x" * 41, "at most 40 characters"),
        ("tool_", "is not valid"),
        ("class", "plugin name 'class' is a Python keyword"),
        ("trainer", "plugin name 'trainer' is taken by a built-in plugin; choose another name"),
        ("diagnostics", "taken by a built-in plugin"),
        ("studio", "taken by a built-in plugin"),
        ("runs", "plugin name 'runs' is reserved"),  # its folder would be the workspace's runs/
        ("data", "is reserved"),
        ("workflows", "is reserved"),
    ],
)
def test_a_bad_name_is_one_line_and_exit_2(name, message, tmp_path, capsys):
    assert main(["plugin", "new", name, "--dir", str(tmp_path / "here")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert message in captured.err
    assert captured.out == "" and not (tmp_path / "here").exists()  # nothing written


def test_an_installed_plugins_id_is_taken(plugin_distribution, tmp_path, capsys):
    plugin_distribution("gadget-plugin", {"gadget": "gadget_mod"}, {"gadget_mod": "x = 1"})
    assert main(["plugin", "new", "gadget", "--dir", str(tmp_path)]) == 2
    assert "'gadget' is taken by an installed plugin (package gadget-plugin)" in capsys.readouterr().err


def test_what_the_user_has_is_never_overwritten(tmp_path, capsys):
    project = tmp_path / "studio-tool-plugin"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    assert main(["plugin", "new", "tool", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"error: {project} already exists and is not empty; nothing was written" in err and err.count("\n") == 1
    assert [p.name for p in project.iterdir()] == ["notes.txt"] and (project / "notes.txt").read_text() == "mine"
    project.joinpath("notes.txt").unlink()
    project.rmdir()
    project.write_text("a file")
    assert main(["plugin", "new", "tool", "--dir", str(tmp_path)]) == 2
    assert "already exists and is not a folder" in capsys.readouterr().err
    assert project.read_text() == "a file"


def test_the_template_mechanism():
    assert substitute("{{name}}/{{ package }}", {"name": "a", "package": "studio_a"}) == "a/studio_a"
    with pytest.raises(KeyError, match="unknown placeholder"):
        substitute("{{nope}}", {"name": "a"})
    with pytest.raises(ScaffoldError):
        check_name("a b")
    check_name("ok_name2", {"other": "built-in"})


def test_the_example_plugin_is_what_plugin_new_hello_writes():
    """examples/studio-hello-plugin is the README's worked example: the project `plugin new
    hello` writes (the files it adds on top — a node, an attention type — and the lines
    declaring them aside), so the two do not drift apart."""
    written = render("hello")
    for name, text in written.items():
        assert (EXAMPLE / name).is_file(), name
        if name.endswith((".py", ".gitignore")) and name not in (
            "studio_hello/__init__.py",
            "studio_hello/hooks.py",
            "tests/test_hello.py",
        ):
            assert (EXAMPLE / name).read_text(encoding="utf-8") == text, name
    example_hooks = (EXAMPLE / "studio_hello" / "hooks.py").read_text(encoding="utf-8")
    for line in written["studio_hello/hooks.py"].splitlines():
        if "description=" not in line and not line.startswith("from studio.api import"):
            assert line in example_hooks.splitlines(), line
    example_tests = (EXAMPLE / "tests" / "test_hello.py").read_text(encoding="utf-8")
    for line in written["tests/test_hello.py"].splitlines():
        assert line in example_tests.splitlines(), line


@pytest.mark.slow  # about 15 s: pip, three CLI processes, and the project's tests (a worker, a window)
def test_the_project_installs_with_pip_and_passes_its_own_tests(tmp_path):
    env = {
        **os.environ,
        "TENSOR_STUDIO_HOME": str(tmp_path / "home"),
        "QT_QPA_PLATFORM": "offscreen",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("TENSOR_STUDIO_WORKSPACE", None)

    def run(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, *argv], capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path
        )
        assert result.returncode == 0, f"{argv}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result

    run("-m", "studio.cli", "plugin", "new", "word_count")  # into the current folder
    project, site = tmp_path / "studio-word-count-plugin", tmp_path / "site"
    run(
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-q",
        "--target",
        str(site),
        str(project),
        timeout=180,
    )
    assert not (site / "tests").exists()  # its tests stay out of the wheel
    env["PYTHONPATH"] = str(site)

    listing = json.loads(run("-m", "studio.cli", "plugins", "list", "--json").stdout)
    plugin = next(p for p in listing if p["id"] == "word_count")
    assert plugin["status"] == "loaded" and plugin["source"] == "package studio-word-count-plugin", plugin
    job = run("-m", "studio.cli", "jobs", "run", "word_count.count", "--set", "steps=4", "--set", "message=tick")
    assert json.loads(job.stdout) == {"steps": 4, "total": 10}
    assert "tick 4" in job.stderr and "succeeded" in job.stderr

    # its tests import the package by name: from here they get the installed copy
    where = run("-c", "import studio_word_count; print(studio_word_count.__file__)").stdout
    assert Path(where.strip()).is_relative_to(site)
    tests = run("-m", "pytest", "-p", "no:cacheprovider", "-q", str(project / "tests"), timeout=300)
    assert "5 passed" in tests.stdout, tests.stdout


def test_a_target_that_cannot_be_read_or_named_is_one_line(tmp_path, capsys):
    assert main(["plugin", "new", "longname", "--dir", str(tmp_path / ("x" * 300))]) == 2
    assert "File name too long" in capsys.readouterr().err
