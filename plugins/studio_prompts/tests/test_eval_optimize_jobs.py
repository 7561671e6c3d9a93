"""Evaluation (metrics, failures kept, resume), the three optimizers on scripted tasks,
budgets, and the jobs and CLI commands end to end (run folder, trace, diff)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from studio.api import RunStatus, Span, read_events
from studio_prompts import Budget, Example, Predict, Prediction, context
from studio_prompts.evaluate import evaluate, exact_match, f1
from studio_prompts.optimizers import COPRO, BootstrapFewShot, LabeledFewShot
from studio_prompts.workflow import load_workflow

from .conftest import fields, input_value
from .helpers import CAPITALS, predict_node, write_workflow


def dataset():
    return [Example(country=c, capital=k).with_inputs("country") for c, k in CAPITALS.items()]


def demos_needed(request):
    """Answers right only when the prompt carries at least two demos; otherwise only France."""
    country = input_value(request, "country")
    demos = sum(1 for m in request["messages"] if m["role"] == "assistant")
    right = demos >= 2 or country == "France"
    return fields(capital=CAPITALS[country] if right else "I don't know")


def instruction_needed(request):
    """Proposals contain the magic word; the task is right only when the system prompt has it."""
    system = request["messages"][0]["content"]
    if "proposed_instruction" in system:
        return fields(proposed_instruction="Answer with the capital city, CAREFULLY.")
    country = input_value(request, "country")
    return fields(capital=CAPITALS[country] if "CAREFULLY" in system else "dunno")


def test_metrics():
    ex = Example(question="q", answer="The Eiffel Tower").with_inputs("question")
    assert exact_match(ex, Prediction(answer="eiffel tower!")) == 1.0
    assert f1(ex, Prediction(answer="Eiffel Tower in Paris")) == pytest.approx(2 * (2 / 4) * 1 / (2 / 4 + 1))


def test_evaluate_keeps_failures_and_resumes(tmp_path, llm_server, lm):
    llm_server.reset(
        script=lambda r: (
            "garbled"
            if input_value(r, "country") == "Japan"
            else fields(capital=CAPITALS[input_value(r, "country")], note="x")
        )
    )
    program = Predict("country -> capital, note")
    results = tmp_path / "results.jsonl"
    progress = []
    with context(lm=lm):
        result = asyncio.run(
            evaluate(
                program,
                dataset(),
                "exact_match",
                concurrency=3,
                results_path=results,
                progress=lambda d, t, m: progress.append((d, t)),
            )
        )
    assert result.score == pytest.approx(5 / 6)
    (failure,) = result.unparsed  # the model answered, unreadably: a wrong answer, not an error
    assert failure["inputs"] == {"country": "Japan"} and "ParseError" in failure["error"]
    assert failure["score"] == 0.0 and result.errors == []
    assert progress[-1] == (6, 6)
    assert len(results.read_text().splitlines()) == 6
    # interrupted after three examples: keep those lines, resume, only three more calls
    results.write_text("\n".join(results.read_text().splitlines()[:3]) + '\n{"key": "cut-off li')
    llm_server.requests.clear()
    with context(lm=lm):
        resumed = asyncio.run(evaluate(program, dataset(), "exact_match", results_path=results))
    assert resumed.resumed == 3 and resumed.score == pytest.approx(5 / 6)
    assert len(llm_server.requests) <= 3 + 2  # the three left (Japan may take a repair call)


def test_labeled_few_shot(llm_server, lm):
    llm_server.reset(script=demos_needed)
    program = Predict("country -> capital")
    with context(lm=lm):
        before = asyncio.run(evaluate(program, dataset(), "exact_match")).score
        optimized, report = asyncio.run(LabeledFewShot(k=3).compile(program, dataset()))
        after = asyncio.run(evaluate(optimized, dataset(), "exact_match")).score
    assert before == pytest.approx(1 / 6) and after == 1.0
    assert program.demos == [] and len(optimized.demos) == 3  # the original is untouched
    assert report.changes == [{"predictor": "self", "demos": {"before": 0, "after": 3}}]


def test_bootstrap_few_shot_keeps_only_traces_that_pass(tmp_path, llm_server, lm):
    llm_server.reset(script=demos_needed)
    path = write_workflow(
        tmp_path / "cap.workflow.json",
        nodes={"ask": predict_node("country -> capital", {"country": "input.country"})},
        inputs={"country": "str"},
        outputs={"capital": "ask.capital"},
    )
    workflow = load_workflow(path)
    with context(lm=lm):
        optimized, report = asyncio.run(
            BootstrapFewShot("exact_match", max_bootstrapped_demos=2, max_labeled_demos=1).compile(workflow, dataset())
        )
        after = asyncio.run(evaluate(optimized, dataset(), "exact_match")).score
    demos = optimized.predictors["ask"].demos
    assert demos[0] == {"country": "France", "capital": "Paris"}  # the one passing teacher run
    assert len(demos) == 2 and after == 1.0
    assert report.changes[0]["demos"] == {"before": 0, "after": 2}


def test_copro_finds_a_better_instruction_within_budget(llm_server, lm):
    llm_server.reset(script=instruction_needed)
    program = Predict("country -> capital")
    with context(lm=lm):
        optimized, report = asyncio.run(COPRO("exact_match", breadth=2, depth=1).compile(program, dataset()))
    assert report.score_before == 0.0 and report.score_after == 1.0
    assert "CAREFULLY" in optimized.signature.instructions
    assert "CAREFULLY" not in program.signature.instructions
    assert {c["score"] for c in report.candidates} == {0.0, 1.0}

    llm_server.requests.clear()
    with context(lm=lm, budget=Budget(max_calls=8)):
        _, limited = asyncio.run(
            COPRO("exact_match", breadth=2, depth=1).compile(Predict("country -> capital"), dataset())
        )
    assert "budget spent: 8 of 8" in limited.stopped and len(llm_server.requests) == 8


# --------------------------------------------------------------------------- jobs and CLI


def capitals_workflow(tmp_path: Path, url: str) -> Path:
    return write_workflow(
        tmp_path / "cap.workflow.json",
        nodes={"ask": predict_node("country -> capital", {"country": "input.country"})},
        inputs={"country": "str"},
        outputs={"capital": "ask.capital"},
        model={"model": "openai/fake-model", "api_base": url},
    )


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "capitals.jsonl"
    path.write_text("".join(json.dumps({"country": c, "capital": k}) + "\n" for c, k in CAPITALS.items()))
    return path


def test_run_job_writes_trace_and_outputs(tmp_path, llm_server, make_studio, run_job, monkeypatch):
    import studio_prompts.hooks as hooks

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # placeholder key
    llm_server.reset(script=demos_needed)
    studio = make_studio(hooks)
    job = run_job(
        studio,
        "prompts.run",
        {"workflow": str(capitals_workflow(tmp_path, llm_server.url)), "inputs": {"country": "France"}},
    )
    assert job.status == RunStatus.SUCCEEDED, job.error
    assert job.result == {"capital": "Paris"}
    assert json.loads((job.run.dir / "outputs.json").read_text()) == {"capital": "Paris"}
    spans = [e for e in read_events(job.run.dir) if isinstance(e, Span)]
    assert {s.span_kind for s in spans} >= {"workflow", "node", "predictor", "llm", "parse"}
    # the workspace cache answers the second run
    again = run_job(
        studio,
        "prompts.run",
        {"workflow": str(capitals_workflow(tmp_path, llm_server.url)), "inputs": {"country": "France"}},
    )
    spans = [e for e in read_events(again.run.dir) if isinstance(e, Span)]
    assert [s.record["cache_hit"] for s in spans if s.span_kind == "llm"] == [True] and len(llm_server.requests) == 1


def test_cli_run_eval_optimize_export(tmp_path, llm_server, studio_home, monkeypatch, capsys, data_file):
    from studio.testing import run_cli as main

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # placeholder key
    llm_server.reset(script=demos_needed)
    workflow = capitals_workflow(tmp_path, llm_server.url)
    original = workflow.read_bytes()
    assert main(["workflow", "run", str(workflow), "--input", "country=France", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out) == {"capital": "Paris"}

    assert main(["workflow", "eval", str(workflow), "--data", str(data_file), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["score"] == pytest.approx(1 / 6) and summary["examples"] == 6

    assert (
        main(
            [
                "workflow",
                "optimize",
                str(workflow),
                "--data",
                str(data_file),
                "--optimizer",
                "labeled",
                "--set",
                "k=2",
                "--quiet",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    saved = Path(result["saved"])
    assert saved.name == "cap.labeled.workflow.json" and workflow.read_bytes() == original  # a new version
    assert len(dict(load_workflow(saved).named_predictors())["ask"].demos) == 2
    assert main(["workflow", "eval", str(saved), "--data", str(data_file), "--quiet", "--no-cache"]) == 0
    assert json.loads(capsys.readouterr().out)["score"] == 1.0

    assert main(["workflow", "export-python", str(workflow), "-o", str(tmp_path / "cap.py")]) == 0
    assert (tmp_path / "cap.py").exists()


def test_cli_without_a_model_exits_2_saying_to_pass_model(tmp_path, studio_home, capsys):
    from studio.testing import run_cli as main

    from .helpers import predict_node, write_workflow

    path = write_workflow(
        tmp_path / "qa.workflow.json",
        nodes={"facts": predict_node("question -> facts", {"question": "input.question"})},
        inputs={"question": "str"},
        outputs={"facts": "facts.facts"},
    )
    for args in (("run", path, "--input", "question=hi"), ("eval", path, "--data", tmp_path / "d.jsonl")):
        assert main(["workflow", *map(str, args), "--quiet"]) == 2
        lines = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
        assert len(lines) == 1 and lines[0].startswith(
            "error: qa.workflow.json: no model set for node facts: pass one with --model"
        ), lines
    assert not list(studio_home.rglob("*prompts.run*")) and not list(studio_home.rglob("*prompts.eval*"))  # no run


def test_cli_reports_bad_files_in_one_line(tmp_path, studio_home, capsys):
    from studio.testing import run_cli as main

    bad = tmp_path / "bad.workflow.json"
    bad.write_text('{"format": "tensor-studio.workflow", "version": 1, "name": "x", "nodes": {"a": 1}}')
    before = bad.read_bytes()
    assert main(["workflow", "run", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "nodes.a" in err and "Traceback" not in err
    assert bad.read_bytes() == before
    assert main(["workflow", "eval", str(tmp_path / "missing.workflow.json"), "--data", "x.csv"]) == 2
    assert "no such workflow file" in capsys.readouterr().err
    binary = tmp_path / "x.workflow.json"
    binary.write_bytes(b"PK\x03\xc0\x00\xff")
    assert main(["workflow", "show", str(binary)]) == 2
    assert capsys.readouterr().err == "error: x.workflow.json is not a text file (binary?), so not a workflow\n"
