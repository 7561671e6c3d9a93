"""Paths, files and flags a user (or a file someone sent) can hand the engine: each bad
one is a one-line ``WorkflowError`` / ``StudioFileError`` naming the file, never a hang,
a stack overflow or an uncaught ``TypeError`` (the CLI turns those into exit 2)."""

from __future__ import annotations

import os
import re
import sys

import pytest

from studio.api import Folders, StudioFileError
from studio_prompts.data import load_dataset
from studio_prompts.preflight import check_metric
from studio_prompts.workflow import WorkflowError, load_workflow
from studio_prompts.workflow.schema import MAX_BYTES

from .helpers import write_workflow


def sub_workflow(tmp_path, path, name="w.workflow.json"):
    node = {"type": "prompts.workflow", "inputs": {"question": "input.question"}, "params": {"path": path}}
    return write_workflow(tmp_path / name, nodes={"s": node}, inputs={"question": "str"}, outputs={})


@pytest.mark.parametrize("path, fragment", [(123, "123"), (["x"], "['x']"), ("a\x00b", "a\\x00b"), ("", "''")])
def test_a_sub_workflow_path_is_text(tmp_path, path, fragment):
    with pytest.raises(WorkflowError, match=re.escape("node 's': params.path is the sub-workflow's file name")) as err:
        load_workflow(sub_workflow(tmp_path, path))
    assert fragment in str(err.value)


def test_special_huge_and_deep_workflow_files_are_refused(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(WorkflowError, match=r"node 's': .*fifo: not a regular file"):
        load_workflow(sub_workflow(tmp_path, "fifo"))
    with pytest.raises(WorkflowError, match="not a regular file"):
        load_workflow(sub_workflow(tmp_path, "/dev/zero"))
    big = tmp_path / "big.workflow.json"
    with big.open("wb") as f:
        f.truncate(MAX_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(WorkflowError, match="too large to be a workflow"):
        load_workflow(big)
    nested = tmp_path / "nested.workflow.json"
    nested.write_text(
        '{"format": "tensor-studio.workflow", "version": 1, "name": "n", "description": ' + "[" * 500 + "]" * 500 + "}"
    )
    with pytest.raises(WorkflowError, match="nested too deeply"):
        load_workflow(nested)
    version = tmp_path / "v.workflow.json"
    version.write_text('{"format": "tensor-studio.workflow", "version": ' + "9" * 5000 + ', "name": "v"}')
    with pytest.raises(WorkflowError, match=re.escape("v.workflow.json: not valid JSON")):
        load_workflow(version)
    version.write_text('{"format": "tensor-studio.workflow", "version": ' + "9" * 4000 + ', "name": "v"}')
    with pytest.raises(WorkflowError, match="newer Tensor Studio") as err:
        load_workflow(version)
    assert len(str(err.value)) < 400


def test_datasets_are_checked_whole(tmp_path):
    folder = tmp_path / "plain-folder"
    folder.mkdir()
    with pytest.raises(StudioFileError, match="is a folder, not a saved dataset"):
        load_dataset(folder, ["question"])
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"question": "a"}\n{"q": "b"}\n')
    with pytest.raises(StudioFileError, match="row 2 has no column 'question'"):
        load_dataset(rows, ["question"])
    assert len(load_dataset(rows, ["question"], limit=1)) == 1  # rows past the limit are not used
    extra = tmp_path / "extra.csv"
    extra.write_text("question,answer\na,b,c\n")
    with pytest.raises(StudioFileError, match="more values than the header"):
        load_dataset(extra, ["question"])
    good = tmp_path / "good.csv"
    good.write_text('question,answer\n"a, quoted\nline",b\n')
    assert load_dataset(good, ["question"])[0]["question"] == "a, quoted\nline"


def test_a_metric_module_is_found_without_importing_it(tmp_path, monkeypatch):
    package = tmp_path / "pkg_never_imported"
    package.mkdir()
    (package / "__init__.py").write_text("raise SystemExit('imported!')\n")
    (package / "scores.py").write_text("def f(example, prediction):\n    return 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert check_metric("pkg_never_imported.scores:f") == "pkg_never_imported.scores:f"
    assert "pkg_never_imported" not in sys.modules
    for bad, fragment in (
        ("pkg_never_imported.nope:f", "no module"),
        ("nonexist_mod:f", "no module"),
        ("", "empty"),
        ("bogus", "unknown metric"),
        ("a b:c", "unknown metric"),
    ):
        with pytest.raises(ValueError, match=fragment):
            check_metric(bad)


def test_a_resume_target_nested_too_deeply_is_refused(tmp_path):
    from studio_prompts.preflight import resume_source

    results = tmp_path / "results.jsonl"
    results.write_text('{"key": ' + "[" * 900 + "]" * 900 + "}\n" + "[" * 100_000 + "\n")
    with pytest.raises(ValueError, match="nested too deeply"):
        resume_source(str(results), Folders(tmp_path), str(tmp_path / "w.workflow.json"), "exact_match", ["0:x"])
    results.write_text('{"key": ["0:x"]}\n')
    with pytest.raises(ValueError, match=re.escape(f'{results}: line 1: key ["0:x"] is not text')):
        resume_source(str(results), Folders(tmp_path), str(tmp_path / "w.workflow.json"), "exact_match", ["0:x"])


GOOD_ROW = '{"key": "0:x", "index": 0, "status": "ok", "score": 1.0}'


@pytest.mark.parametrize(
    "row, metric, fragment",
    [
        ('{"key": "0:x", "index": 0, "status": "ok", "score": "1.0"}', "exact_match", 'score "1.0" is not a number'),
        ('{"key": "0:x", "index": 0, "status": "ok", "score": {"a": 1}}', "exact_match", "is not a number"),
        ('{"key": "0:x", "index": 0, "status": "ok", "score": true}', "exact_match", "score true is not a number"),
        ('{"key": "0:x", "index": 0, "status": "ok"}', "exact_match", "has no score"),
        ('{"key": "0:x", "index": 0, "status": "unparsed", "score": null}', "exact_match", "has no score"),
        ('{"key": "0:x", "index": 0}', "exact_match", "has no score"),  # no status, no error: finished
        ('{"key": "0:x", "index": 0, "status": "ok", "score": NaN}', "exact_match", "NaN is not a finite number"),
        ('{"key": "0:x", "index": 0, "status": "ok", "score": 1e999}', "mod:f", "Infinity is not a finite number"),
        ('{"key": "0:x", "index": 0, "status": "ok", "score": -Infinity}', "mod:f", "not a finite number"),
        ('{"key": "0:x", "index": 0, "status": "ok", "score": 1' + "0" * 400 + "}", "mod:f", "too large"),
        ('{"key": "0:x", "index": 0, "status": "ok", "score": 1' + "0" * 5000 + "}", "mod:f", "line 2: "),
        ('{"key": "0:x", "index": 0, "status": "ok", "score": 2}', "f1", "outside 0..1, the range of f1"),
        ('{"key": "0:x", "index": 0, "status": "ok", "score": -0.5}', "llm_judge", "outside 0..1"),
        ('{"key": "0:x", "index": "0", "status": "ok", "score": 1}', "exact_match", 'index "0" is not a whole'),
        ('{"key": "0:x", "index": -1, "status": "ok", "score": 1}', "exact_match", "index -1 is not a whole"),
        ('{"key": "0:x", "index": 1.5, "status": "ok", "score": 1}', "exact_match", "index 1.5 is not a whole"),
        ('{"key": "0:x", "index": false, "status": "ok", "score": 1}', "exact_match", "index false is not a whole"),
    ],
)
def test_a_hand_edited_results_row_is_refused_naming_its_line(tmp_path, row, metric, fragment):
    from studio_prompts.preflight import resume_source

    results = tmp_path / "results.jsonl"
    results.write_text(f"{GOOD_ROW}\n{row}\n")
    with pytest.raises(ValueError, match=re.escape(f"--resume: {results}: line 2: ")) as err:
        resume_source(str(results), Folders(tmp_path), str(tmp_path / "w.workflow.json"), metric, ["0:x"])
    assert fragment in str(err.value) and len(str(err.value)) < 400


@pytest.mark.parametrize(
    "row, metric",
    [
        ('{"key": "0:x", "index": 0, "status": "ok", "score": 7.5}', "mod:f"),  # a metric of its own scores anything
        ('{"key": "0:x", "index": 0, "status": "ok", "score": 1}', "exact_match"),
        ('{"key": "0:x", "index": 0, "status": "error", "score": null, "error": "boom"}', "exact_match"),
        ('{"key": "0:x", "index": 0, "status": "error", "score": "junk", "error": "boom"}', "exact_match"),  # rerun
        ('{"key": "0:x", "status": "ok", "score": 0.5}', "f1"),  # no index: sorted first, as ever
        ('{"key": "0:x", "index": 0, "status": "ok", "score": 1.0', "exact_match"),  # cut by a crash: skipped
    ],
)
def test_rows_an_evaluation_writes_are_resumed_from(tmp_path, row, metric):
    from studio_prompts.preflight import resume_source

    results = tmp_path / "results.jsonl"
    results.write_text(f"{GOOD_ROW}\n{row}\n")
    assert resume_source(str(results), Folders(tmp_path), str(tmp_path / "w.workflow.json"), metric, ["0:x"])
