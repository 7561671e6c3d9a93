"""Workflow files someone sent you: the Python code they name (function nodes, ReAct
tools, signature types, a metric in a job's parameters, a module whose import does something) never runs
without consent, and showing or exporting them imports nothing; malformed files are one
``error:`` line with exit 2."""

from __future__ import annotations

import json
import os
import stat

import pytest

from studio.api import Folders

from .conftest import expect_all_refused, expect_failed, expect_ok, expect_refused

SIDEFX = '''
import pathlib
pathlib.Path({marker!r}).write_text("imported")


def shout(text):
    """Upper-case the text."""
    return text.upper()


def score(example, prediction):
    return 1.0
'''


def workflow(path, nodes, inputs=("question",), outputs=None, name="w"):
    path.write_text(
        json.dumps(
            {
                "format": "tensor-studio.workflow",
                "version": 1,
                "name": name,
                "inputs": {n: {"type": "str"} for n in inputs},
                "outputs": outputs or {},
                "nodes": nodes,
            }
        )
    )
    return path


@pytest.fixture
def sidefx(tmp_path):
    """A module on PYTHONPATH whose top-level code writes a marker file."""
    folder = tmp_path / "modules"
    folder.mkdir()
    marker = tmp_path / "imported.marker"
    (folder / "sidefx.py").write_text(SIDEFX.format(marker=str(marker)))
    return {"PYTHONPATH": str(folder)}, marker


def test_an_os_system_node_runs_only_with_trust(cli, tmp_path):
    pwned = tmp_path / "pwned"
    path = workflow(
        tmp_path / "evil.workflow.json",
        {"f": {"type": "prompts.python", "inputs": {"command": "input.cmd"}, "params": {"function": "os:system"}}},
        inputs=("cmd",),
        outputs={"status": "f.result"},
    )
    touch = f"cmd=touch {pwned}"
    expect_refused(cli("workflow", "run", path, "--input", touch), "os:system", "function of node 'f'", "--trust")
    assert "os:system" in expect_ok(cli("workflow", "show", path)).out
    # the job itself refuses: `jobs run` is no way around the question
    expect_failed(
        cli("jobs", "run", "prompts.run", "--set", f"workflow={path}", "--set", f"inputs.cmd=touch {pwned}"),
        "os:system",
        "trusted=",
    )
    assert not pwned.exists()
    expect_ok(cli("workflow", "run", path, "--input", touch, "--trust", "--quiet"))
    assert pwned.exists()


def test_show_and_export_of_tools_and_sub_workflows_import_nothing(cli, tmp_path, sidefx):
    env, marker = sidefx
    workflow(
        tmp_path / "sub.workflow.json",
        {
            "inner": {
                "type": "prompts.python",
                "inputs": {"text": "input.question"},
                "params": {"function": "sidefx:shout"},
            }
        },
        outputs={"loud": "inner.result"},
        name="sub",
    )
    path = workflow(
        tmp_path / "agent.workflow.json",
        {
            "agent": {
                "type": "prompts.react",
                "inputs": {"question": "input.question"},
                "params": {"signature": "question -> answer: sidefx.Answer", "tools": ["sidefx:shout"]},
            },
            "sub": {
                "type": "prompts.workflow",
                "inputs": {"question": "agent.answer"},
                "params": {"path": "sub.workflow.json"},
            },
        },
        outputs={"out": "sub.loud"},
    )
    shown = expect_ok(cli("workflow", "show", path, env=env)).out
    assert "tool of ReAct node 'agent'" in shown and "function of node 'inner' in sub.workflow.json" in shown
    assert "sidefx.Answer" in shown  # a class a signature names is code too
    expect_ok(cli("workflow", "export-python", path, "-o", tmp_path / "agent.py", env=env))
    assert "from sidefx import shout as tool_agent_shout" in (tmp_path / "agent.py").read_text()
    expect_refused(cli("workflow", "run", path, "--input", "question=hi", env=env), "sidefx:shout", "--trust")
    assert not marker.exists()


def test_a_metric_from_a_params_file_needs_consent_one_typed_is_the_users(cli, tmp_path, sidefx):
    env, marker = sidefx
    path = workflow(tmp_path / "echo.workflow.json", {}, outputs={"question": "input.question"})
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "a"}\n')
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"workflow": str(path), "data": str(data), "metric": "sidefx:score"}))
    expect_failed(cli("jobs", "run", "prompts.eval", "--params", params, env=env), "sidefx:score (metric)")
    assert not marker.exists()
    expect_ok(cli("workflow", "eval", path, "--data", data, "--metric", "sidefx:score", "--quiet", env=env))
    assert marker.exists()


def test_malformed_workflow_files_are_one_line(cli, tmp_path):
    not_json = tmp_path / "a.workflow.json"
    not_json.write_text("{ not json")
    schema = workflow(tmp_path / "b.workflow.json", {"a": 1})
    sub = {"type": "prompts.workflow", "inputs": {"question": "input.question"}}
    workflow(tmp_path / "c.workflow.json", {"d": {**sub, "params": {"path": "d.workflow.json"}}})
    workflow(tmp_path / "d.workflow.json", {"c": {**sub, "params": {"path": "c.workflow.json"}}})
    missing = workflow(tmp_path / "e.workflow.json", {"s": {**sub, "params": {"path": "gone.workflow.json"}}})
    echo = workflow(tmp_path / "echo.workflow.json", {}, outputs={"question": "input.question"})
    expect_all_refused(
        cli,
        (("workflow", "show", not_json), "not valid JSON"),
        (("workflow", "run", schema, "--input", "question=x"), "nodes.a"),
        (("workflow", "show", tmp_path / "c.workflow.json"), "includes itself", "cycle"),
        (("workflow", "export-python", missing), "gone.workflow.json", "no such workflow file"),
        (("workflow", "run", echo), "missing input 'question'"),
    )


ANSWER = "[[ ## answer ## ]]\nok\n\n[[ ## completed ## ]]"


@pytest.fixture
def keyed_server(llm_server):
    llm_server.reset(script=[ANSWER])
    return llm_server


def keyed_workflow(path, model):
    return workflow(
        path,
        {
            "x": {
                "type": "prompts.predict",
                "inputs": {"question": "input.question"},
                "params": {"signature": "question -> answer", "model": model},
            }
        },
        outputs={"answer": "x.answer"},
    )


def test_a_server_the_file_names_gets_no_key_without_consent(cli, tmp_path, keyed_server):
    url, seen = keyed_server.url, keyed_server.authorizations
    env = {"TS_SECRET": "s3cret-env", "OPENAI_API_KEY": "sk-users-own"}
    run = ("--input", "question=hi", "--quiet", "--no-cache", "--retries", "0")
    named = keyed_workflow(
        tmp_path / "k.workflow.json", {"model": "openai/x", "api_base": url, "api_key_env": "TS_SECRET"}
    )
    plain = keyed_workflow(tmp_path / "p.workflow.json", {"model": "openai/x", "api_base": url})
    # a model object may set only a model, its server, a key's variable name and sampling
    odd = keyed_workflow(tmp_path / "o.workflow.json", {"model": "openai/x", "backend": "os:system"})
    nomodel = workflow(
        tmp_path / "u.workflow.json",
        {
            "x": {
                "type": "prompts.predict",
                "inputs": {"question": "input.question"},
                "params": {"signature": "question -> answer"},
            }
        },
        outputs={"answer": "x.answer"},
    )
    # without consent (one process for these, then one for each environment below)
    shown, refused, job, provider_key, odd_shown = cli.batch(
        ("workflow", "show", named),
        ("workflow", "run", named, *run),
        ("jobs", "run", "prompts.run", "--set", f"workflow={named}", "--set", "inputs.question=hi"),
        ("workflow", "run", plain, *run),  # a provider key from the environment is a key too
        ("workflow", "show", odd),
        env=env,
    )
    assert f"model endpoint {url} receives $TS_SECRET" in expect_ok(shown).out
    expect_refused(refused, url, "$TS_SECRET", "node 'x'", "--trust")
    expect_failed(job, "$TS_SECRET", "trusted=")  # the job itself refuses: no way around the question
    expect_refused(provider_key, url, "openai API key", "--trust")
    expect_refused(odd_shown, "may not set 'backend'")
    assert seen == []
    # no key set here: the server gets a placeholder, and the run works
    expect_ok(cli("workflow", "run", plain, *run, env={"OPENAI_API_KEY": ""}))
    assert seen == ["Bearer no-key"]
    # consent: the key goes; and a server the user names is their own choice
    trusted, named_by_user = cli.batch(
        ("workflow", "run", named, *run, "--trust"),
        ("workflow", "run", nomodel, *run, "--model", "openai/x", "--api-base", url),
        env=env,
    )
    expect_ok(trusted)
    expect_ok(named_by_user)
    assert seen == ["Bearer no-key", "Bearer s3cret-env", "Bearer sk-users-own"]


def test_export_python_never_writes_over_a_file(cli, tmp_path):
    path = workflow(tmp_path / "qa.workflow.json", {}, outputs={"question": "input.question"})
    (tmp_path / "qa.py").write_text("# my own script\n")
    mine = tmp_path / "mine.txt"
    mine.write_text("mine")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    expect_all_refused(
        cli,
        (("workflow", "export-python", path), "qa.py exists", "--force"),
        (("workflow", "export-python", path, "-o", mine), "mine.txt exists", "--force"),
        (("workflow", "export-python", path, "-o", fifo, "--force"), "not a regular file"),
    )
    assert (tmp_path / "qa.py").read_text() == "# my own script\n" and mine.read_text() == "mine"
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    expect_ok(cli("workflow", "export-python", path, "--force"))
    assert "litellm" in (tmp_path / "qa.py").read_text()


def test_workflow_files_that_hang_overflow_or_loop_are_one_line(cli, tmp_path):
    """FIFOs and devices are not read, deep nesting and long sub-workflow chains are
    refused, a bad sub-workflow path names its node: nothing hangs or crashes."""
    os.mkfifo(tmp_path / "fifo.workflow.json")
    sub = {"type": "prompts.workflow", "inputs": {"question": "input.question"}}
    zero = workflow(tmp_path / "zero.workflow.json", {"s": {**sub, "params": {"path": "/dev/zero"}}})
    (tmp_path / "deep.workflow.json").write_text("[" * 100_000)
    (tmp_path / "deep.workflow.yaml").write_text("[" * 5_000)
    os.symlink("loop2", tmp_path / "loop1")
    os.symlink("loop1", tmp_path / "loop2")
    loop = workflow(tmp_path / "loop.workflow.json", {"s": {**sub, "params": {"path": "loop1"}}})
    for i in range(40):
        workflow(tmp_path / f"c{i}.workflow.json", {"s": {**sub, "params": {"path": f"c{i + 1}.workflow.json"}}})
    workflow(tmp_path / "c40.workflow.json", {})
    expect_all_refused(  # a FIFO or /dev/zero read would hang: the batch's timeout fails the test
        cli,
        (("workflow", "show", tmp_path / "fifo.workflow.json"), "not a regular file"),
        (("workflow", "show", zero), "node 's'", "/dev/zero", "not a regular file"),
        (("workflow", "show", tmp_path / "deep.workflow.json"), "nested too deeply"),
        (("workflow", "show", tmp_path / "deep.workflow.yaml"), "nested too deeply"),
        (("workflow", "show", loop), "node 's'", "loop1"),
        (("workflow", "show", tmp_path / "c0.workflow.json"), "c0.workflow.json", "more than 32 deep"),
        timeout=60,
    )


def test_eval_checks_the_data_and_metric_before_any_run_folder(cli, tmp_path):
    path = workflow(tmp_path / "echo.workflow.json", {}, outputs={"question": "input.question"})
    good = tmp_path / "d.jsonl"
    good.write_text('{"question": "a"}\n')
    os.mkfifo(tmp_path / "fifo.jsonl")
    (tmp_path / "latin.jsonl").write_bytes(b'{"question": "caf\xe9"}\n')
    (tmp_path / "bad.csv").write_text('question,answer\n1,"unterminated\n2,3\n')
    (tmp_path / "other.jsonl").write_text('{"q": 1}\n')
    (tmp_path / "bad.parquet").write_text("not parquet")
    (tmp_path / "deep.jsonl").write_text("[" * 100_000 + "\n")
    expect_all_refused(
        cli,
        *[
            (("workflow", "eval", path, "--data", tmp_path / data, "--quiet"), fragment)
            for data, fragment in (
                ("gone.jsonl", "no such dataset file"),
                ("fifo.jsonl", "not a regular file"),
                ("latin.jsonl", "not UTF-8"),
                ("bad.csv", "unterminated quote"),
                ("other.jsonl", "no column 'question'"),
                ("bad.parquet", "parquet"),
                ("deep.jsonl", "nested too deeply"),
            )
        ],
        (("workflow", "optimize", path, "--data", tmp_path, "--quiet"), "is a folder"),
        *[
            (("workflow", "eval", path, "--data", good, "--metric", metric, "--quiet"), fragment)
            for metric, fragment in (
                ("bogus", "unknown metric"),
                ("", "--metric is empty"),
                ("nonexist_mod:f", "no module 'nonexist_mod'"),
            )
        ],
    )
    assert not list(Folders(cli.workspace).runs.iterdir())


def test_flags_name_themselves_and_optimize_set_takes_only_its_settings(cli, tmp_path):
    path = workflow(tmp_path / "echo.workflow.json", {}, outputs={"question": "input.question"})
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "a"}\n')
    expect_all_refused(
        cli,
        (("workflow", "optimize", path, "--data", data, "--set", "bogus=1"), "--set bogus", "max_calls"),
        (("workflow", "optimize", path, "--data", data, "--set", "workflow=/etc/passwd"), "--set workflow"),
        (("workflow", "run", path, "--input", "question=NaN"), "--input question", "finite"),
    )
    assert not list(Folders(cli.workspace).runs.iterdir())


def test_a_dead_local_server_is_named_without_any_key_set(cli, tmp_path):
    path = keyed_workflow(tmp_path / "p.workflow.json", None)
    expect_failed(
        cli(
            "workflow",
            "run",
            path,
            "--input",
            "question=hi",
            "--model",
            "openai/x",
            "--api-base",
            "http://127.0.0.1:9/v1",
            "--retries",
            "0",
            "--quiet",
            env={"OPENAI_API_KEY": ""},
        ),
        "cannot connect to http://127.0.0.1:9/v1",
    )


def test_copro_proposes_with_the_model_given_on_the_command_line(cli, tmp_path, keyed_server):
    def reply(request):
        text = request["messages"][-1]["content"]
        if "proposed_instruction" in text:
            return "[[ ## proposed_instruction ## ]]\nAnswer briefly.\n\n[[ ## completed ## ]]"
        return ANSWER

    keyed_server.reset(script=reply)
    path = keyed_workflow(tmp_path / "p.workflow.json", None)
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "a", "answer": "ok"}\n{"question": "b", "answer": "ok"}\n')
    result = expect_ok(
        cli(
            "workflow",
            "optimize",
            path,
            "--data",
            data,
            "--optimizer",
            "copro",
            "--model",
            "openai/x",
            "--api-base",
            keyed_server.url,
            "--set",
            "depth=0",
            "--set",
            "breadth=2",
            "--quiet",
            env={"OPENAI_API_KEY": ""},
        )
    )
    assert (tmp_path / "p.copro.workflow.json").exists(), result


def healthy_cache(folder, rows: int = 21) -> bytes:
    """A call cache of ``rows`` entries in ``folder`` (the plugin's ``prompts/``), closed
    and checkpointed; returns its bytes, to check that it was left alone."""
    import sqlite3

    path = folder / "llm-cache.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE calls (key TEXT PRIMARY KEY, request TEXT, response TEXT, created REAL)")
    with conn:
        conn.executemany("INSERT INTO calls VALUES (?, ?, '{}', 0)", [(f"k{i}", "{}") for i in range(rows)])
    conn.close()
    return path.read_bytes()


def cache_warning(result) -> str:
    """The warning the run's log got about the cache ('' when none)."""
    import re

    from studio.api import Log, read_events

    folder = re.search(r"folder (\S+)", result.err)
    assert folder, result
    logs = [e.text for e in read_events(folder.group(1)) if isinstance(e, Log) and e.level == "warning"]
    return next((text for text in logs if "cache" in text), "")


def on_its_own_disk(cli, disk):
    """The workspace's ``prompts/`` folder made a link to ``disk``."""
    prompts = cli.workspace / "prompts"
    if prompts.is_symlink() or prompts.is_file():
        prompts.unlink()
    elif prompts.exists():
        prompts.rmdir()
    prompts.symlink_to(disk, target_is_directory=True)
    return disk


def test_a_cache_on_a_full_or_read_only_disk_is_kept_and_the_run_goes_on(cli, tmp_path, keyed_server, small_disk):
    import subprocess

    path = keyed_workflow(tmp_path / "p.workflow.json", None)
    run = ("workflow", "run", path, "--input", "question=hi", "--model", "openai/x", "--api-base", keyed_server.url)
    env = {"OPENAI_API_KEY": ""}
    # the disk fills up: the cache is still a good cache, the run runs without it
    full = on_its_own_disk(cli, small_disk(1))
    before = healthy_cache(full)
    filler = os.open(full / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(filler, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(filler)
    result = expect_ok(cli(*run, "--retries", "0", "--quiet", env=env))
    assert json.loads(result.out) == {"answer": "ok"}
    assert "disk is full" in cache_warning(result), result
    assert (full / "llm-cache.sqlite").read_bytes() == before
    assert not list(full.glob("*corrupt*"))
    # a read-only disk: the same
    readonly = on_its_own_disk(cli, small_disk(1))
    before = healthy_cache(readonly)
    subprocess.run(["mount", "-o", "remount,ro", str(readonly)], check=True)
    result = expect_ok(cli(*run, "--retries", "0", "--quiet", env=env))
    assert json.loads(result.out) == {"answer": "ok"} and cache_warning(result), result
    assert (readonly / "llm-cache.sqlite").read_bytes() == before
    assert not list(readonly.glob("*corrupt*"))


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root is not stopped by file modes")
def test_a_cache_folder_without_permissions_is_no_reason_to_stop_a_run(cli, tmp_path, keyed_server):
    path = keyed_workflow(tmp_path / "p.workflow.json", None)
    run = ("workflow", "run", path, "--input", "question=hi", "--model", "openai/x", "--api-base", keyed_server.url)
    prompts = Folders(cli.workspace).plugin_dir("prompts")
    before = healthy_cache(prompts)
    for mode in (0o555, 0o000):  # read-only, then no access at all
        prompts.chmod(mode)
        try:
            result = expect_ok(cli(*run, "--retries", "0", "--quiet", env={"OPENAI_API_KEY": ""}))
        finally:
            prompts.chmod(0o755)
        assert json.loads(result.out) == {"answer": "ok"} and cache_warning(result), result
        assert (prompts / "llm-cache.sqlite").read_bytes() == before
        assert not list(prompts.glob("*corrupt*"))
