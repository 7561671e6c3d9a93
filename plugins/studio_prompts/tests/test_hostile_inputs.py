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
    with pytest.raises(ValueError, match="not an evaluation's results file"):
        resume_source(str(results), Folders(tmp_path), str(tmp_path / "w.workflow.json"), "exact_match", ["0:x"])
