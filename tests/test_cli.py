"""The headless CLI: exit codes and messages a person (or a script) can rely on."""

import json
import os
import re
import subprocess
import sys

import pytest

from studio.cli import main


@pytest.fixture(autouse=True)
def home(studio_home):
    return studio_home


def test_plugins_list(capsys):
    assert main(["plugins", "list"]) == 0
    out = capsys.readouterr().out
    assert "diagnostics" in out and "built-in" in out and "loaded" in out


def test_plugins_list_shows_broken_plugin(plugin_distribution, capsys):
    plugin_distribution("broken-plugin", {"brokenp": "broken_mod"}, {"broken_mod": "import not_a_module_xyz"})
    assert main(["plugins", "list", "--json"]) == 0
    records = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["brokenp"]["status"] == "failed"
    assert "not_a_module_xyz" in records["brokenp"]["problems"][0]["message"]
    assert records["diagnostics"]["status"] == "loaded"


def test_disable_is_remembered(capsys):
    assert main(["plugins", "disable", "diagnostics"]) == 0
    assert main(["plugins", "list"]) == 0
    assert "disabled" in capsys.readouterr().out
    assert main(["jobs", "run", "diagnostics.stream"]) == 2
    assert "unknown job kind" in capsys.readouterr().err
    assert main(["plugins", "enable", "diagnostics"]) == 0
    assert main(["plugins", "disable", "nope"]) == 2


def test_jobs_kinds(capsys):
    assert main(["jobs", "kinds"]) == 0
    assert "diagnostics.stream" in capsys.readouterr().out
    assert main(["jobs", "kinds", "--json"]) == 0
    schema = json.loads(capsys.readouterr().out)["diagnostics.stream"]["params"]
    assert "steps" in schema["properties"]


def test_jobs_run_writes_run_folder_and_runs_show(tmp_path, capsys):
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"steps": 50, "rate": 0, "metrics_per_step": 2}))
    assert main(["jobs", "run", "diagnostics.stream", "--params", str(params), "--set", "seed=3"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["steps"] == 50
    assert "succeeded" in captured.err
    assert main(["runs", "list"]) == 0
    listing = capsys.readouterr().out
    assert "diagnostics.stream" in listing and "succeeded" in listing
    assert main(["runs", "show", "diagnostics", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["params"]["seed"] == 3
    assert shown["metrics"]["train/loss"]["steps"] == 50
    assert main(["runs", "show", "diagnostics"]) == 0
    assert "train/loss" in capsys.readouterr().out


def test_set_reaches_nested_settings_and_keeps_the_others():
    from studio.api import merge_settings, parse_assignments

    assert parse_assignments(["model.n_layer=1", "model.bias=false", "steps=3"]) == {
        "model": {"n_layer": 1, "bias": False},
        "steps": 3,
    }
    assert merge_settings({"model": {"n_layer": 4, "n_head": 2}, "lr": 1}, {"model": {"n_layer": 1}}) == {
        "model": {"n_layer": 1, "n_head": 2},
        "lr": 1,
    }
    with pytest.raises(ValueError, match="was set to a value"):
        parse_assignments(["model=3", "model.n_layer=1"])
    with pytest.raises(ValueError, match=r"KEY may be group\.field"):
        parse_assignments(["model..n=1"])


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["jobs", "run", "diagnostics.stream", "--set", "steps=-5"],
            "steps: Input should be greater than or equal to 1",
        ),
        (["jobs", "run", "diagnostics.stream", "--set", "nonsense"], "--set expects KEY=VALUE"),
        (
            ["jobs", "run", "diagnostics.stream", "--set", "stpes=5"],
            "--set stpes: diagnostics.stream has no such setting",
        ),
        (["jobs", "run", "no.such.kind"], "unknown job kind 'no.such.kind'"),
        (["jobs", "run", "diagnostics.stream", "--params", "/no/such/file.json"], "does not exist"),
        (["runs", "show", "zzz-no-run"], "no run matches"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_malformed_params_file(tmp_path, capsys):
    bad = tmp_path / "p.json"
    bad.write_text("{steps: 3")
    assert main(["jobs", "run", "diagnostics.stream", "--params", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    bad.write_text("[1, 2]")
    assert main(["jobs", "run", "diagnostics.stream", "--params", str(bad)]) == 2
    assert "must hold a JSON object" in capsys.readouterr().err


def test_failing_job_exits_1_and_keeps_its_run(capsys):
    assert (
        main(
            [
                "jobs",
                "run",
                "diagnostics.stream",
                "--set",
                "steps=100",
                "--set",
                "rate=0",
                "--set",
                "fail_at_step=10",
                "-q",
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "failing at step 10" in err and "events.jsonl" in err
    assert main(["runs", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "failed"


def test_missing_workspace_is_an_error_not_created(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["--workspace", str(missing), "runs", "list"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not missing.exists()


def test_doctor(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "devices" in out and "cpu" in out and "diagnostics" in out and "keyring" in out


def test_doctor_gui_and_ctrl_c_in_a_real_process(studio_home):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TENSOR_STUDIO_HOME": str(studio_home)}
    result = subprocess.run(
        [sys.executable, "-m", "studio.cli", "doctor", "--gui"], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    created = re.search(r"(\d+) panels created", result.stdout)
    assert created and int(created.group(1)) >= 4 and "first paint" in result.stdout

    import signal
    import time

    # Ctrl-C in a terminal signals the whole process group, so the job's worker gets it too:
    # the job is still cancelled (not failed with KeyboardInterrupt in the worker)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "studio.cli",
            "jobs",
            "run",
            "diagnostics.stream",
            "--set",
            "steps=100000",
            "--set",
            "rate=100",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(3)
    os.killpg(proc.pid, signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "cancelled in" in err and "KeyboardInterrupt" not in err


CLI_PLUGIN = """
from studio.api import CliCommand, hookimpl

def configure(parser):
    parser.add_argument("name")

def run(args, ctx):
    print(f"hello {args.name} in {ctx.workspace.name}")
    return 0 if args.name != "fail" else 1

@hookimpl
def studio_commands():
    return [CliCommand("hello", "say hello", configure, run)]
"""


def test_plugin_cli_subcommand(plugin_distribution, capsys):
    plugin_distribution("cli-plugin", {"clip": "cli_mod"}, {"cli_mod": CLI_PLUGIN})
    assert main(["hello", "Ada"]) == 0
    assert capsys.readouterr().out == "hello Ada in workspace\n"
    assert main(["hello", "fail"]) == 1
