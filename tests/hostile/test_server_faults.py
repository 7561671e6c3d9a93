"""A model server that is dead, dies midway, or answers with errors, garbage or not at
all: ``workflow eval`` counts those examples as errors apart from wrong answers (the score
is over the examples that were scored), exits 1, and ``--resume`` retries exactly them;
``workflow run`` fails with the cause on one line, exit 1 (the command was right, the run
failed — exit 2 is for input refused before anything runs). A wrong ``--resume`` target or
a node whose plugin is missing is refused (exit 2) before any model call."""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from studio.api import Folders, RunStatus
from studio_prompts.tests.helpers import CAPITALS

from .conftest import expect_all_refused, expect_failed, expect_ok


def reply(capital: str) -> str:
    return f"[[ ## capital ## ]]\n{capital}\n\n[[ ## completed ## ]]"


class FaultyServer(ThreadingHTTPServer):
    """OpenAI-style chat server whose answer per country is ``behave(country)``: a capital,
    or "500", "html" (a non-JSON body), "slow" (3 s), "garbage" (unreadable text). After
    ``die_after`` replies it dies: no more connections, open ones dropped unanswered."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, behave, die_after: int | None = None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.behave, self.die_after = behave, die_after
        self.asked: list[str] = []
        self.dead = False
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def handle_error(self, request, client_address) -> None:  # a client that hung up on "slow": fine
        pass

    def die(self) -> None:
        self.dead = True

        def stop() -> None:
            self.shutdown()
            self.server_close()

        threading.Thread(target=stop, daemon=True).start()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        server: FaultyServer = self.server  # type: ignore[assignment]
        with server.lock:
            if server.dead or (server.die_after is not None and len(server.asked) >= server.die_after):
                if not server.dead:
                    server.die()
                self.close_connection = True
                return  # no reply at all: the connection just closes
            text = body["messages"][-1]["content"]
            country = next((c for c in CAPITALS if re.search(rf"\b{c}\b", text)), "?")
            server.asked.append(country)
        what = server.behave(country)
        if what == "500":
            return self._send(500, b'{"error": {"message": "overloaded"}}')
        if what == "html":
            return self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        if what == "slow":
            time.sleep(3)
        content = (
            "lorem ipsum, no fields here" if what == "garbage" else reply(CAPITALS[country] if what == "slow" else what)
        )
        self._send(
            200,
            json.dumps(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "m"),
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            ).encode(),
        )

    def _send(self, status: int, data: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def right(country: str) -> str:
    return CAPITALS[country]


@pytest.fixture
def files(tmp_path):
    """A one-node workflow (no Python code: no --trust needed) and six examples."""

    def workflow(url: str) -> Path:
        path = tmp_path / "cap.workflow.json"
        path.write_text(
            json.dumps(
                {
                    "format": "tensor-studio.workflow",
                    "version": 1,
                    "name": "cap",
                    "model": {"model": "openai/fake-model", "api_base": url},
                    "inputs": {"country": {"type": "str"}},
                    "outputs": {"capital": "ask.capital"},
                    "nodes": {
                        "ask": {
                            "type": "prompts.predict",
                            "inputs": {"country": "input.country"},
                            "params": {"signature": "country -> capital"},
                        }
                    },
                }
            )
        )
        return path

    data = tmp_path / "capitals.jsonl"
    data.write_text("".join(json.dumps({"country": c, "capital": k}) + "\n" for c, k in CAPITALS.items()))
    return workflow, data


FAST = ("--quiet", "--retries", "0", "--no-cache", "--concurrency", "1")
ENV = {"OPENAI_API_KEY": ""}  # a key set here would make the file's api_base need consent


def run_folder(result) -> Path:
    found = re.search(r"folder (\S+)", result.err)
    assert found, result.err
    return Path(found.group(1))


def summary(result) -> dict:
    return json.loads((run_folder(result) / "summary.json").read_text())


def test_a_dead_server_from_the_start(cli, files):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workflow, data = files
    path = workflow(f"http://127.0.0.1:{port}/v1")
    result = expect_failed(
        cli("workflow", "eval", path, "--data", data, *FAST, env=ENV),
        "6 of 6 examples errored",
        "no score",
        "is the server running?",
    )
    assert summary(result)["score"] is None and summary(result)["errors"] == 6
    expect_failed(
        cli("workflow", "run", path, "--input", "country=France", *FAST[:3], env=ENV), "is the server running?"
    )


def test_a_server_dying_midway_then_resume_retries_only_the_errored(cli, files):
    workflow, data = files
    server = FaultyServer(right, die_after=3)
    result = expect_failed(
        cli("workflow", "eval", workflow(server.url), "--data", data, *FAST, env=ENV),
        "3 of 6 examples errored",
        "score 1.0000 over the 3 scored",
        "--resume",
    )
    assert summary(result)["scored"] == 3 and summary(result)["score"] == 1.0  # not 3/6 = 0.5
    again = FaultyServer(right)  # the server is back (on another port)
    resumed = expect_ok(
        cli(
            "workflow",
            "eval",
            workflow(server.url),
            "--data",
            data,
            *FAST,
            "--model",
            "openai/fake-model",
            "--api-base",
            again.url,
            "--resume",
            run_folder(result),
            env=ENV,
        )
    )
    done = json.loads(resumed.out)
    assert done["resumed"] == 3 and done["retried"] == 3 and done["errors"] == 0 and done["score"] == 1.0
    assert sorted(again.asked) == sorted(set(CAPITALS) - set(server.asked))  # exactly the errored, once each
    again.shutdown()


def test_errors_garbage_and_timeouts_are_told_apart(cli, files):
    faults = {"Italy": "500", "Spain": "html", "Japan": "slow", "Egypt": "garbage", "Germany": "Bonn"}
    server = FaultyServer(lambda country: faults.get(country) or CAPITALS[country])
    workflow, data = files
    path = workflow(server.url)
    result = expect_failed(
        cli("workflow", "eval", path, "--data", data, *FAST, "--timeout", "1", "--concurrency", "6", env=ENV),
        "3 of 6 examples errored",
    )
    got = summary(result)
    # France right; Germany and Egypt (garbage text) wrong answers: 1/3; the rest errored, not scored
    assert (got["scored"], got["errors"]) == (3, 3) and got["score"] == pytest.approx(1 / 3)
    rows = {r["inputs"]["country"]: r for r in map(json.loads, (run_folder(result) / "results.jsonl").open())}
    assert "overloaded" in rows["Italy"]["error"] and "502 Bad Gateway" in rows["Spain"]["error"]
    assert rows["Japan"]["status"] == "error" and rows["Egypt"]["score"] == 0.0
    server.shutdown()


def test_wrong_resume_targets_and_missing_plugins_cost_no_call(cli, files, tmp_path):
    server = FaultyServer(right)
    workflow, data = files
    path = workflow(server.url)
    other = Folders(cli.workspace).run_dir("20260101-000000-diagnostics.stream-abcd")
    other.mkdir(parents=True)
    (other / "run.json").write_text(
        json.dumps({"id": other.name, "kind": "diagnostics.stream", "status": RunStatus.SUCCEEDED})
    )
    (other / "results.jsonl").write_text("")
    spec = json.loads(path.read_text())
    spec["nodes"]["find"] = {"type": "nosuchplugin.retriever", "inputs": {"query": "input.country"}, "params": {}}
    missing = path.with_name("missing.workflow.json")
    missing.write_text(json.dumps(spec))
    expect_all_refused(
        cli,
        (("workflow", "eval", path, "--data", data, "--resume", "/nonexistent"), "--resume", "no run or folder"),
        (
            ("workflow", "eval", path, "--data", data, "--resume", other.name),
            "diagnostics.stream run, not an evaluation",
        ),
        (("workflow", "eval", missing, "--data", data), "cannot run", "find (nosuchplugin.retriever)"),
        env=ENV,
    )
    assert server.asked == []
    server.shutdown()


def test_a_hand_edited_results_file_is_refused_naming_its_line(cli, files):
    workflow, data = files
    server = FaultyServer(right, die_after=3)
    path = workflow(server.url)
    folder = run_folder(expect_failed(cli("workflow", "eval", path, "--data", data, *FAST, env=ENV), "3 of 6"))
    results = folder / "results.jsonl"
    good = results.read_text().splitlines()
    finished = next(i for i, line in enumerate(good) if json.loads(line)["status"] == "ok")
    asked = len(server.asked)

    def edited(**change) -> str:
        row = json.loads(good[finished])
        row.update(change)
        for key in [k for k, v in change.items() if v is ...]:
            del row[key]
        text = json.dumps(row)
        return text.replace('"NaN-here"', "NaN").replace('"Inf-here"', "1e999").replace('"Big-here"', "9" * 400)

    cases = []
    for i, (line, fragment) in enumerate(
        (
            (edited(score="1.0"), "score"),
            (edited(score={"a": 1}), "score"),
            (edited(score=...), "no score"),
            (edited(score=True), "score"),
            (edited(score="NaN-here"), "finite"),
            (edited(score="Inf-here"), "finite"),
            (edited(score="Big-here"), "score"),
            (edited(score=5.0), "0..1"),  # exact_match scores 0 or 1
            (edited(index="0"), "index"),
            (edited(index=-1), "index"),
        )
    ):
        copy = shutil.copytree(folder, cli.workspace.parent / f"edited-{i}" / folder.name)  # its own copy
        (copy / "results.jsonl").write_text("\n".join([*good[:finished], line, *good[finished + 1 :]]) + "\n")
        command = ("workflow", "eval", path, "--data", data, *FAST, "--resume", copy)
        cases.append((command, "--resume", f"{copy / 'results.jsonl'}: line {finished + 1}", fragment))
    expect_all_refused(cli, *cases, env=ENV)
    assert results.read_text().splitlines() == good  # the run itself is as it was
    assert len(server.asked) == asked  # no call made
    assert len(list(Folders(cli.workspace).runs.iterdir())) == 1  # no run folder either
    server.shutdown()
