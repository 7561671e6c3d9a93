"""The shell's own commands and flags: bad values, bad files, non-UTF-8 arguments and
closed pipes get one line and exit 2 (or a quiet exit 0 for a reader that left)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import expect_ok, expect_refused


def test_params_file_that_is_binary_a_fifo_a_folder_or_not_an_object(cli, tmp_path):
    binary = tmp_path / "params.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    expect_refused(cli("jobs", "run", "diagnostics.stream", "--params", binary), "not a JSON text file")
    fifo = tmp_path / "params.fifo"
    os.mkfifo(fifo)
    expect_refused(cli("jobs", "run", "diagnostics.stream", "--params", fifo, timeout=30), "not a regular file")
    expect_refused(cli("jobs", "run", "diagnostics.stream", "--params", tmp_path), "is a folder")
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    expect_refused(cli("jobs", "run", "diagnostics.stream", "--params", listed), "JSON object")
    nan = tmp_path / "nan.json"
    nan.write_text('{"steps": 5, "rate": NaN}')
    expect_refused(cli("jobs", "run", "diagnostics.stream", "--params", nan), "NaN")
    assert not any((cli.workspace / "runs").iterdir())  # no run folder was started


def test_set_values_that_are_not_finite_not_utf8_or_unknown(cli):
    for value in ("Infinity", "-Infinity", "NaN"):
        expect_refused(cli("jobs", "run", "diagnostics.stream", "--set", f"rate={value}"), "not a finite number")
    expect_refused(cli("jobs", "run", "diagnostics.stream", "--set", "rate=1e999"), "rate", "finite")
    expect_refused(cli("jobs", "run", "diagnostics.stream", "--set", b"seed=caf\xe9"), "not valid UTF-8")
    expect_refused(cli("jobs", "run", "diagnostics.stream", "--set", "stpes=3"), "no such setting")
    result = expect_refused(cli("jobs", "run", "diagnostics.stream", "--set", "steps=oops", "--set", "rate=x"),
                            "steps", "rate")
    assert len(result.err.strip().splitlines()) == 1
    expect_refused(cli("jobs", "run", "nope.kind"), "unknown job kind")
    assert not any((cli.workspace / "runs").iterdir())  # no orphan run folders


def test_runs_and_plugins_with_names_that_do_not_exist(cli):
    expect_refused(cli("runs", "show", "no-such-run"), "no run matches")
    expect_refused(cli("plugins", "disable", "no-such-plugin"), "no plugin")
    expect_refused(cli("--workspace", cli.workspace / "missing", "runs", "list", workspace=False), "does not exist")


def test_a_reader_that_closes_the_pipe_gets_no_traceback(cli):
    """`tensor-studio jobs kinds | head -1`: the reader is gone before the output is written."""
    for command in (("jobs", "kinds"), ("runs", "list"), ("plugins", "list", "--json")):
        read, write = os.pipe()
        os.close(read)  # every write now fails with EPIPE, as after `head` exits
        proc = subprocess.run([sys.executable, "-m", "studio.cli", "--workspace", str(cli.workspace), *command],
                              stdout=write, stderr=subprocess.PIPE, env=cli.env, timeout=60)
        os.close(write)
        assert proc.returncode == 0, proc.stderr
        assert b"Traceback" not in proc.stderr and b"BrokenPipe" not in proc.stderr, proc.stderr


def test_an_unexpected_error_is_one_line_with_a_saved_report(cli, tmp_path):
    """A bug is not bad input: exit 1, one line naming where the traceback was saved."""
    plugin = tmp_path / "plugin"
    (plugin / "crashy-0.1.dist-info").mkdir(parents=True)
    (plugin / "crashy-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: crashy\nVersion: 0.1\n")
    (plugin / "crashy-0.1.dist-info" / "entry_points.txt").write_text("[tensor_studio.plugins]\ncrashy = crashy_mod\n")
    (plugin / "crashy_mod.py").write_text(
        "from studio.api import hookimpl, CliCommand\n"
        "def _configure(parser):\n    pass\n"
        "def _run(args):\n    return {}['missing']\n"
        "@hookimpl\ndef studio_commands():\n"
        "    return [CliCommand(name='crash', help='crash', configure=_configure, run=_run)]\n")
    result = cli("crash", env={"PYTHONPATH": str(plugin)})
    assert result.code == 1, result
    assert "Traceback" not in result.err and "internal error: KeyError" in result.err, result
    report = result.err.split("details in ")[1].rstrip(")\n ")
    assert "KeyError" in open(report).read()


def test_json_output_stays_json(cli):
    kinds = json.loads(expect_ok(cli("jobs", "kinds", "--json")).out)
    assert "diagnostics.stream" in kinds


def test_argument_errors_are_one_line_for_the_shell_and_plugin_commands(cli):
    expect_refused(cli("jobs", "run"), "required: kind", "--help")
    expect_refused(cli("no-such-command"), "invalid choice")
    expect_refused(cli("runs", "show"), "run_id")
    expect_refused(cli("workflow", "run"), "required")  # a plugin's sub-command inherits it
