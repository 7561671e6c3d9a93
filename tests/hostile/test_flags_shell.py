"""The shell's own commands and flags: bad values, bad files, non-UTF-8 arguments and
closed pipes get one line and exit 2 (or a quiet exit 0 for a reader that left)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import expect_ok, expect_refused


def test_params_file_that_is_binary_a_fifo_a_folder_or_not_an_object(cli, tmp_path):
    binary = tmp_path / "params.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    fifo = tmp_path / "params.fifo"
    os.mkfifo(fifo)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    nan = tmp_path / "nan.json"
    nan.write_text('{"steps": 5, "rate": NaN}')
    cases = [
        (binary, "not a JSON text file"),
        (fifo, "not a regular file"),  # a reader would block forever: the batch's timeout says so
        (tmp_path, "is a folder"),
        (listed, "JSON object"),
        (nan, "NaN"),
    ]
    results = cli.batch(*[("jobs", "run", "diagnostics.stream", "--params", path) for path, _ in cases], timeout=60)
    for result, (_, fragment) in zip(results, cases, strict=True):
        expect_refused(result, fragment)
    assert not any((cli.workspace / "runs").iterdir())  # no run folder was started


def test_set_values_that_are_not_finite_not_utf8_or_unknown(cli):
    stream = ("jobs", "run", "diagnostics.stream")
    cases = [
        *[
            ((*stream, "--set", f"rate={value}"), ("not a finite number",))
            for value in ("Infinity", "-Infinity", "NaN")
        ],
        ((*stream, "--set", "rate=1e999"), ("rate", "finite")),
        ((*stream, "--set", b"seed=caf\xe9"), ("not valid UTF-8",)),
        ((*stream, "--set", "stpes=3"), ("no such setting",)),
        ((*stream, "--set", "steps=oops", "--set", "rate=x"), ("steps", "rate")),
        (("jobs", "run", "nope.kind"), ("unknown job kind",)),
    ]
    results = cli.batch(*[command for command, _ in cases])
    for result, (_, fragments) in zip(results, cases, strict=True):
        expect_refused(result, *fragments)
    assert len(results[-2].err.strip().splitlines()) == 1  # both bad values, one line
    assert not any((cli.workspace / "runs").iterdir())  # no orphan run folders


def test_runs_and_plugins_with_names_that_do_not_exist(cli):
    shown, disabled = cli.batch(("runs", "show", "no-such-run"), ("plugins", "disable", "no-such-plugin"))
    expect_refused(shown, "no run matches")
    expect_refused(disabled, "no plugin")
    expect_refused(cli("--workspace", cli.workspace / "missing", "runs", "list", workspace=False), "does not exist")


def test_a_reader_that_closes_the_pipe_gets_no_traceback(cli):
    """`tensor-studio jobs kinds | head -1`: the reader is gone before the output is written."""
    for command in (("jobs", "kinds"), ("runs", "list"), ("plugins", "list", "--json")):
        read, write = os.pipe()
        os.close(read)  # every write now fails with EPIPE, as after `head` exits
        proc = subprocess.run(
            [sys.executable, "-m", "studio.cli", "--workspace", str(cli.workspace), *command],
            stdout=write,
            stderr=subprocess.PIPE,
            env=cli.env,
            timeout=60,
        )
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
        "def _run(args, ctx):\n    return {}['missing']\n"
        "@hookimpl\ndef studio_commands():\n"
        "    return [CliCommand(name='crash', help='crash', configure=_configure, run=_run)]\n"
    )
    result = cli("crash", env={"PYTHONPATH": str(plugin)})
    assert result.code == 1, result
    assert "Traceback" not in result.err and "command (plugin 'crashy') failed: KeyError" in result.err, result
    report = result.err.split("details in ")[1].rstrip(")\n ")
    assert "KeyError" in Path(report).read_text()


def test_json_output_stays_json(cli):
    kinds = json.loads(expect_ok(cli("jobs", "kinds", "--json")).out)
    assert "diagnostics.stream" in kinds


def test_argument_errors_are_one_line_for_the_shell_and_plugin_commands(cli):
    jobs, command, runs, plugin = cli.batch(
        ("jobs", "run"), ("no-such-command",), ("runs", "show"), ("workflow", "run")
    )
    expect_refused(jobs, "required: kind", "--help")
    expect_refused(command, "invalid choice")
    expect_refused(runs, "run_id")
    expect_refused(plugin, "required")  # a plugin's sub-command inherits it


def test_damaged_run_folders_and_settings_are_shown_as_such(cli):
    """Hand-edited, binary, deeply nested or half-made run files: listed, never a crash,
    and the healthy runs beside them still show."""
    runs = cli.workspace / "runs"
    damaged = {
        "20260101-000001-x-wrongtype": {"run.json": b'{"status": "succeeded", "started": "abc"}'},
        "20260101-000002-x-nested": {"run.json": b"[" * 100_000},
        "20260101-000003-x-binevents": {
            "run.json": b'{"status": "succeeded", "created": 1e300}',
            "events.jsonl": b"\xff\xfe\x00\n" + b'{"kind": "metric", "name": "m", '
            b'"value": null}\n{"kind": "metric", "name": "m", "value": 2}\n',
        },
        "20260101-000004-x-noparams": {"run.json": b'{"status": "failed"}'},
        "20260101-000005-x-bignumbers": {
            "run.json": b'{"status": "running", "owner_pid": 99999999999999999999999, "started": 1' + b"0" * 400 + b"}",
            "events.jsonl": b'{"kind": "metric", "name": "m", "step": 1, "value": 1'
            + b"0" * 5000
            + b'}\n{"kind": "log", "text": "lone \\ud800 surrogate"}\n{"kind": "metric", "name": "m", "step": 1, '
            b'"value": 1' + b"0" * 400 + b"}\n",
        },
    }
    for run_id, files in damaged.items():
        (runs / run_id).mkdir()
        for name, data in files.items():
            (runs / run_id / name).write_bytes(data)
    listing, listed_json, *each, shown, noparams, bignumbers = cli.batch(  # reading commands only
        ("runs", "list"),
        ("runs", "list", "--json"),
        *[("runs", "show", run_id) for run_id in damaged],
        ("runs", "show", "binevents"),
        ("runs", "show", "noparams", "--json"),
        ("runs", "show", "bignumbers", "--json"),  # numbers no machine type holds, a lone surrogate
    )
    assert expect_ok(listing).out.count("unreadable") == 2
    expect_ok(listed_json)
    for result in each:
        expect_ok(result)
    lines = expect_ok(shown).out.splitlines()
    assert [line.split() for line in lines if line.startswith("  m ")] == [["m", "2", "2", "2"]]
    assert "does not exist" in expect_ok(noparams).out
    expect_ok(bignumbers)


def test_a_corrupt_settings_file_is_kept_by_reading_commands(cli):
    settings = cli.home / "config" / "settings.json"
    settings.parent.mkdir(parents=True)
    for content in (b"[1, 2]", b"\x00\xff binary", b"[" * 100_000):
        settings.write_bytes(content)
        result = expect_ok(cli("plugins", "list"))
        assert settings.read_bytes() == content, result  # not moved or rewritten by a reading command
    expect_ok(cli("plugins", "disable", "quantizer"))  # a writer sets it aside, then writes
    assert list(settings.parent.glob("settings.json.corrupt-*"))
    assert "quantizer" in settings.read_text()


def test_plugin_new_on_a_full_disk_leaves_nothing_half_written(small_disk, studio_home, capsys):
    from studio.cli import main

    disk = small_disk(1)
    (disk / "filler").write_bytes(b"\0" * (1024 * 1024 - 16 * 1024))  # all but a few KB
    assert main(["plugin", "new", "roomy", "--dir", str(disk)]) == 2
    assert "cannot write the plugin" in capsys.readouterr().err
    assert not (disk / "studio-roomy-plugin").exists()  # so a retry on a freed disk is not refused
    (disk / "filler").unlink()
    assert main(["plugin", "new", "roomy", "--dir", str(disk)]) == 0
