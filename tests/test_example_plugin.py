"""The example third-party plugin (examples/studio-hello-plugin: what ``tensor-studio plugin
new hello`` writes, plus a workflow node and an attention type), built into a wheel and
installed like any package, driven only through the CLI: it is discovered through its entry
point, its own tests pass against the installed copy, its job runs, its node runs in a
workflow (prompts.run) and its attention type trains a model (trainer.train)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "studio-hello-plugin"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of the example: building in place would leave build/ and *.egg-info in the checkout."""
    copy = tmp_path_factory.mktemp("hello-source") / "studio-hello-plugin"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    return copy


@pytest.fixture(scope="module")
def installed(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("hello")
    wheels, target = out / "wheels", out / "site"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert build.returncode == 0, build.stderr
    wheel = next(wheels.glob("studio_hello_plugin-*.whl"))
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert install.returncode == 0, install.stderr
    assert not (target / "tests").exists()  # the tests stay out of the wheel
    return target


@pytest.fixture
def run(installed, tmp_path):
    """``run("jobs", "run", …)``: tensor-studio in a subprocess, the example on its path, on a
    fresh home (and its default workspace)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(installed),
        "TENSOR_STUDIO_HOME": str(tmp_path / "home"),
        "QT_QPA_PLATFORM": "offscreen",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("TENSOR_STUDIO_WORKSPACE", None)

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "studio.cli", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=tmp_path,
        )

    run.env = env
    return run


def test_discovered_through_its_entry_point(run):
    listing = run("plugins", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    hello = next(p for p in json.loads(listing.stdout) if p["id"] == "hello")
    assert hello["status"] == "loaded" and hello["source"] == "package studio-hello-plugin", hello
    assert "hello.count" in json.loads(run("jobs", "kinds", "--json").stdout)


def test_its_job_runs_from_the_cli(run):
    result = run("jobs", "run", "hello.count", "--set", "steps=4", "--quiet")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"steps": 4, "total": 10}


@pytest.mark.slow  # about 10 s: a studio, a worker and a window
def test_its_own_tests_pass_against_the_installed_package(run, source, tmp_path):
    # from tmp_path, so that `import studio_hello` finds the installed copy, not the source
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(source / "tests")],
        capture_output=True,
        text=True,
        timeout=300,
        env=run.env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout


def test_its_node_runs_in_a_workflow(run, tmp_path):
    workflow = {
        "format": "tensor-studio.workflow",
        "version": 1,
        "name": "greeting",
        "description": "",
        "inputs": {"name": {"type": "str"}},
        "outputs": {"greeting": "greet.greeting"},
        "nodes": {
            "greet": {
                "type": "hello.greet",
                "inputs": {"name": "input.name"},
                "params": {"greeting": "Hi", "punctuation": "?"},
            }
        },
    }
    path = tmp_path / "greeting.workflow.json"
    path.write_text(json.dumps(workflow), encoding="utf-8")
    result = run("jobs", "run", "prompts.run", "--set", f"workflow={path}", "--set", "inputs.name=Ada", "--quiet")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"greeting": "Hi, Ada?"}


@pytest.mark.slow  # about 10 s: torch in the CLI and in the worker
def test_its_attention_type_trains_a_model(run, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog.\n" * 200, encoding="utf-8")
    params = {
        "data": {"corpus": str(corpus)},
        "model": {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16, "attention": "hello.decay"},
        "max_steps": 3,
        "batch_size": 4,
        "warmup_steps": 1,
        "log_interval": 1,
        "eval_interval": 3,
        "eval_iters": 1,
        "sample_interval": 0,
        "checkpoint_interval": 3,
    }
    (tmp_path / "train.json").write_text(json.dumps(params), encoding="utf-8")
    result = run("jobs", "run", "trainer.train", "--params", str(tmp_path / "train.json"), "--quiet", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout)
    assert outcome["steps"] == 3 and outcome["val_loss"] is not None
    checkpoint = Path(outcome["checkpoint"])
    assert json.loads((checkpoint / "config.json").read_text())["model"]["attention"] == "hello.decay"
    with safe_open(str(checkpoint / "model.safetensors"), "pt") as weights:
        assert "blocks.0.attn.rate" in set(weights.keys())  # the plugin's module, trained and saved
