"""Failed calls are errors, not wrong answers: left out of the score and counted apart,
exit 1, retried by ``--resume``; wrong resume targets and missing plugins refused (exit 2)
before any call; optimizers count failed teacher calls apart too; the result window
shows errors apart."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import ClassVar

import pytest
from PySide6.QtCore import Qt

from studio.api import JobOutcome, RunStatus
from studio.testing import Fail
from studio_prompts import Budget, Example, Predict, context
from studio_prompts.evaluate import evaluate
from studio_prompts.optimizers import COPRO, BootstrapFewShot
from studio_prompts.workflow import load_workflow

from .conftest import fields, input_value
from .helpers import CAPITALS, predict_node, write_workflow


def dataset():
    return [Example(country=c, capital=k).with_inputs("country") for c, k in CAPITALS.items()]


class Flaky:
    """Right for France and Germany, wrong for the rest; HTTP 500 for the countries in ``down``."""

    def __init__(self, *down: str):
        self.down = set(down)

    def __call__(self, request):
        country = input_value(request, "country")
        if country in self.down:
            return Fail(500, "overloaded")
        return fields(capital=CAPITALS[country] if country in ("France", "Germany") else "dunno")


def asked(server) -> list[str]:
    return sorted(input_value(r, "country") for r in server.requests)


def test_errors_are_not_wrong_answers_and_resume_retries_exactly_them(tmp_path, llm_server, lm):
    llm_server.reset(script=Flaky("Italy", "Spain"))
    results = tmp_path / "results.jsonl"
    with context(lm=lm):
        result = asyncio.run(evaluate(Predict("country -> capital"), dataset(), results_path=results))
    assert len(result.errors) == 2 and len(result.scored) == 4
    assert result.score == pytest.approx(2 / 4)  # over the four answered, not 2 / 6
    summary = result.summary()
    assert summary["errors"] == 2 and summary["scored"] == 4 and summary["examples"] == 6
    assert "overloaded" in summary["first_error"] and "2 errored" in result.describe()
    rows = {r["inputs"]["country"]: r for r in map(json.loads, results.read_text().splitlines())}
    italy = rows["Italy"]
    assert italy["status"] == "error" and italy["score"] is None and "overloaded" in italy["error"]
    assert rows["Japan"]["status"] == "ok" and rows["Japan"]["score"] == 0.0  # a wrong answer

    llm_server.reset(script=Flaky())  # the server is back
    with context(lm=lm):
        again = asyncio.run(evaluate(Predict("country -> capital"), dataset(), results_path=results))
    assert asked(llm_server) == ["Italy", "Spain"]  # exactly the errored ones, once each
    assert again.resumed == 4 and again.retried == 2 and again.errors == []
    assert again.score == pytest.approx(2 / 6)
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(lines) == 6 and all(r["status"] == "ok" for r in lines)  # one row per example


def test_a_dead_server_is_one_short_line_in_the_summary(tmp_path, lm):
    dead = lm.copy(api_base="http://127.0.0.1:9/v1", retries=0)
    workflow = load_workflow(
        write_workflow(
            tmp_path / "cap.workflow.json",
            nodes={"ask": predict_node("country -> capital", {"country": "input.country"})},
            inputs={"country": "str"},
            outputs={"capital": "ask.capital"},
        )
    )
    with context(lm=dead):
        result = asyncio.run(evaluate(workflow, dataset()[:2], concurrency=1))
    assert result.summary()["first_error"] == (
        "node 'ask' (prompts.predict): openai/fake-model: cannot connect to "
        "http://127.0.0.1:9/v1 (connection refused) — is the server running?"
    )
    assert "NodeError" not in result.describe() and "LMError" not in result.describe()


def test_budget_and_cancel_inside_a_workflow_are_not_errors(tmp_path, llm_server, lm):
    llm_server.reset(script=Flaky())
    workflow = load_workflow(
        write_workflow(
            tmp_path / "cap.workflow.json",
            nodes={"ask": predict_node("country -> capital", {"country": "input.country"})},
            inputs={"country": "str"},
            outputs={"capital": "ask.capital"},
        )
    )
    with context(lm=lm, budget=Budget(max_calls=2)):
        result = asyncio.run(evaluate(workflow, dataset(), concurrency=1))
    assert "budget spent" in result.stopped and result.errors == [] and len(result.rows) == 2
    assert result.summary()["not_run"] == 4

    from studio.api import JobCancelled

    results = tmp_path / "results.jsonl"
    with context(lm=lm, cancelled=lambda: True), pytest.raises(JobCancelled):
        asyncio.run(evaluate(workflow, dataset(), results_path=results))
    assert results.read_text() == ""  # nothing recorded as a failure


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def workflow_file(tmp_path, llm_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # placeholder key
    return write_workflow(
        tmp_path / "cap.workflow.json",
        nodes={"ask": predict_node("country -> capital", {"country": "input.country"})},
        inputs={"country": "str"},
        outputs={"capital": "ask.capital"},
        model={"model": "openai/fake-model", "api_base": llm_server.url},
    )


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "capitals.jsonl"
    path.write_text("".join(json.dumps({"country": c, "capital": k}) + "\n" for c, k in CAPITALS.items()))
    return path


def cli(capsys, *args) -> tuple[int, str, str]:
    from studio.testing import run_cli as main

    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_folder(err: str) -> Path:
    found = re.search(r"folder (\S+)", err)
    assert found, err
    return Path(found.group(1))


def test_cli_eval_exits_1_on_errors_and_resume_retries_them(workflow_file, data_file, llm_server, studio_home, capsys):
    llm_server.reset(script=Flaky("Italy", "Spain"))
    code, out, err = cli(capsys, "workflow", "eval", workflow_file, "--data", data_file, "--quiet", "--retries", 0)
    assert code == 1 and "Traceback" not in err
    (line,) = [x for x in err.splitlines() if x.startswith("error:")]
    assert "2 of 6 examples errored" in line and "score 0.5000 over the 4 scored" in line and "--resume" in line
    folder = run_folder(err)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["score"] == 0.5 and summary["errors"] == 2 and summary["scored"] == 4
    assert json.loads((folder / "run.json").read_text())["status"] == RunStatus.FAILED

    llm_server.reset(script=Flaky())
    code, out, err = cli(
        capsys, "workflow", "eval", workflow_file, "--data", data_file, "--quiet", "--resume", folder.name
    )  # a run id works as well as a folder
    assert code == 0, err
    assert asked(llm_server) == ["Italy", "Spain"]
    result = json.loads(out)
    assert result["resumed"] == 4 and result["retried"] == 2 and result["errors"] == 0
    assert result["score"] == pytest.approx(2 / 6)


def test_cli_refuses_bad_resume_targets_and_missing_plugins_before_any_call(
    tmp_path, workflow_file, data_file, llm_server, studio_home, capsys
):
    llm_server.reset(script=Flaky())
    code, _out, err = cli(capsys, "workflow", "run", workflow_file, "--input", "country=France", "--quiet")
    assert code == 0
    not_an_eval = run_folder(err)
    llm_server.requests.clear()
    (tmp_path / "empty").mkdir()
    other = write_workflow(
        tmp_path / "other.workflow.json",
        nodes={"ask": predict_node("country -> capital", {"country": "input.country"})},
        inputs={"country": "str"},
        outputs={"capital": "ask.capital"},
        model={"model": "openai/fake-model", "api_base": llm_server.url},
    )
    bad_targets = {
        str(tmp_path / "nonexistent"): "no run or folder",
        str(tmp_path / "empty"): "has no results.jsonl",
        "nothing-like-this": "no run or folder",
        str(not_an_eval): "is a prompts.run run, not an evaluation",
    }
    for target, why in bad_targets.items():
        code, _out, err = cli(capsys, "workflow", "eval", workflow_file, "--data", data_file, "--resume", target)
        lines = [x for x in err.splitlines() if x.strip()]
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: --resume") and why in lines[0], err

    # an evaluation of another workflow, or with another metric: not this one's to continue
    llm_server.reset(script=Flaky("Italy"))
    code, _out, err = cli(capsys, "workflow", "eval", workflow_file, "--data", data_file, "--quiet", "--retries", 0)
    assert code == 1
    folder = run_folder(err)
    llm_server.requests.clear()
    code, _out, err = cli(capsys, "workflow", "eval", other, "--data", data_file, "--resume", folder)
    assert code == 2 and "evaluated" in err
    code, _out, err = cli(
        capsys, "workflow", "eval", workflow_file, "--data", data_file, "--metric", "f1", "--resume", folder
    )
    assert code == 2 and "scored with exact_match, not f1" in err

    missing = write_workflow(
        tmp_path / "rag.workflow.json",
        nodes={
            "ask": predict_node("country -> capital", {"country": "input.country"}),
            "find": {"type": "someplugin.retriever", "title": "", "params": {}, "inputs": {"query": "input.country"}},
        },
        inputs={"country": "str"},
        outputs={"capital": "ask.capital"},
        model={"model": "openai/fake-model", "api_base": llm_server.url},
    )
    for args in (
        ("run", missing, "--input", "country=France"),
        ("eval", missing, "--data", data_file),
        ("optimize", missing, "--data", data_file),
    ):
        code, _out, err = cli(capsys, "workflow", *args)
        lines = [x for x in err.splitlines() if x.strip()]
        assert code == 2 and len(lines) == 1 and "find (someplugin.retriever)" in lines[0], err
    assert llm_server.requests == []  # nothing above made a call


def test_dead_server_fails_the_job_with_no_score(workflow_file, data_file, llm_server, make_studio, run_job):
    import studio_prompts.hooks as hooks

    llm_server.stop()
    job = run_job(
        make_studio(hooks),
        "prompts.eval",
        {"workflow": str(workflow_file), "data": str(data_file), "retries": 0, "timeout": 5},
    )
    assert job.status == RunStatus.FAILED and "6 of 6 examples errored" in job.error and "no score" in job.error
    assert "is the server running?" in job.error
    summary = json.loads((job.run.dir / "summary.json").read_text())
    assert summary["score"] is None and summary["errors"] == 6 and summary["scored"] == 0


# --------------------------------------------------------------------------- optimizers


def test_bootstrap_counts_failed_teacher_calls_apart(
    tmp_path, workflow_file, data_file, llm_server, lm, studio_home, capsys
):
    llm_server.reset(script=Flaky("Italy", "Spain"))
    with context(lm=lm):
        _optimized, report = asyncio.run(
            BootstrapFewShot("exact_match", max_bootstrapped_demos=4).compile(Predict("country -> capital"), dataset())
        )
    assert report.errors == 2 and "overloaded" in report.first_error  # not two silent misses

    llm_server.reset(script=Flaky("Italy"))
    code, _out, err = cli(
        capsys, "workflow", "optimize", workflow_file, "--data", data_file, "--quiet", "--retries", 0, "--no-cache"
    )
    assert code == 1 and "OptimizationErrors: bootstrap: 1 examples errored" in err and "no new version" in err
    assert not list(tmp_path.glob("cap.bootstrap.*"))


def test_copro_stops_when_a_candidate_cannot_be_scored(llm_server, lm):
    llm_server.reset(script=Flaky("Italy"))
    with context(lm=lm):
        _optimized, report = asyncio.run(
            COPRO("exact_match", breadth=2, depth=1).compile(Predict("country -> capital"), dataset())
        )
    assert report.errors == 1 and "1 of 6 examples errored" in report.stopped
    assert report.score_before is None and report.candidates == []


# --------------------------------------------------------------------------- the result window


def failed(run_dir: Path, error: str) -> JobOutcome:
    return JobOutcome(run_dir.name, RunStatus.FAILED, run_dir, error=error)


def cell(table, row: int, column: int):
    item = table.item(row, column)
    assert item is not None, (row, column)
    return item


def test_result_window_shows_errors_apart_and_retries_them(qtbot, tmp_path):
    from PySide6.QtWidgets import QWidget

    from studio_prompts.qt.editor.results import ResultView

    run_dir = tmp_path / "20250101-000000-prompts.eval-abcd"
    run_dir.mkdir()
    (run_dir / "params.json").write_text(json.dumps({"data": "d.jsonl", "metric": "f1"}))
    (run_dir / "summary.json").write_text(
        json.dumps({"score": 0.5, "examples": 3, "scored": 2, "errors": 1, "first_error": "LMError: down"})
    )
    rows = [
        {"index": 0, "status": "ok", "score": 1.0},
        {"index": 1, "status": "error", "score": None, "error": "LMError: down"},
        {"index": 2, "status": "ok", "score": 0.0},
    ]
    (run_dir / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    class Editor(QWidget):
        asked: ClassVar[list] = []

        def evaluate(self, *args, **kwargs):
            self.asked.append((args, kwargs))

    editor = Editor()
    qtbot.addWidget(editor)
    view = ResultView(editor, run_dir, "eval", failed(run_dir, "EvaluationErrors: …"))
    text = view.summary.text()
    assert "Score 0.500 over 2 of 3 examples" in text and "1 errored, not scored" in text
    assert cell(view.table, 0, 0).text() == "error" and cell(view.table, 0, 4).text() == "not scored"
    assert view.retry is not None
    view.retry.click()
    assert editor.asked == [(("d.jsonl", "f1", ""), {"resume": str(run_dir), "api_base": ""})]
    assert view.retry.text() == "Retry the 1 errored example"


def test_result_window_all_errors_shows_the_error_header_and_the_whole_error(qtbot, tmp_path):
    from studio_prompts.qt.editor.results import ResultView

    run_dir = tmp_path / "20250101-000000-prompts.eval-efgh"
    run_dir.mkdir()
    long_error = (
        "node 'facts' (prompts.predict): ollama_chat/llama3.2: cannot connect to http://127.0.0.1:9 "
        "(connection refused) after 4 attempts — is the server running? " + "x" * 400 + " END"
    )
    (run_dir / "summary.json").write_text(
        json.dumps({"score": None, "examples": 2, "scored": 0, "errors": 2, "first_error": long_error})
    )
    rows = [
        {"index": i, "status": "error", "score": None, "inputs": {"question": "q" * 300}, "error": long_error}
        for i in range(2)
    ]
    (run_dir / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    view = ResultView(None, run_dir, "eval", failed(run_dir, "…"))
    qtbot.addWidget(view)
    view.resize(1000, 560)
    view.show()
    qtbot.waitExposed(view)
    table = view.table
    header = table.horizontalHeader()
    error_header = table.horizontalHeaderItem(5)
    assert error_header is not None and error_header.text() == "error"
    # the error column starts inside the window, so its header is seen
    assert view.width() <= 1366  # a long error does not widen the window past a small screen
    assert header.sectionViewportPosition(5) < table.viewport().width()
    assert header.defaultAlignment() & Qt.AlignmentFlag.AlignLeft
    assert cell(table, 0, 5).toolTip() == long_error
    table.selectRow(1)
    assert long_error in view.detail.toPlainText() and view.detail.isReadOnly()


def test_a_metric_that_returns_nan_errs_that_example_and_the_mean_stays_finite(tmp_path, llm_server, lm):
    llm_server.reset(script=Flaky())
    scores = {"France": float("nan"), "Germany": float("inf"), "Italy": 1e308, "Spain": 1e308}

    def metric(example, prediction):
        return scores.get(example.country, 0.0)

    results = tmp_path / "results.jsonl"
    with context(lm=lm):
        result = asyncio.run(evaluate(Predict("country -> capital"), dataset(), metric, results_path=results))
    assert sorted(r["inputs"]["country"] for r in result.errors) == ["France", "Germany"]
    assert "not a finite number" in result.errors[0]["error"]
    assert result.score == pytest.approx(1e308 / 2)  # (1e308 + 1e308 + 0 + 0) / 4: the sum overflows, not the mean
    for line in results.read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} written"))


def test_evaluate_refuses_a_results_file_no_evaluation_wrote(tmp_path, llm_server, lm):
    from studio_prompts.evaluate import ResultsFileError, example_key

    llm_server.reset(script=Flaky())
    results = tmp_path / "results.jsonl"
    key = example_key(0, dataset()[0])
    results.write_text(json.dumps({"key": key, "index": "0", "status": "ok", "score": 1.0}) + "\n")
    with context(lm=lm), pytest.raises(ResultsFileError, match=re.escape(f"{results}: line 1: index")):
        asyncio.run(evaluate(Predict("country -> capital"), dataset(), results_path=results))
    assert llm_server.requests == []
