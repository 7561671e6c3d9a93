"""The sample workflows in a workspace: *Open sample workflow* never opens or overwrites
something else that has the sample's name, says what is in the way when no copy can be
made, and samples are copied once per workspace only where that can be remembered."""

from __future__ import annotations

import json
import os
import re

import pytest

import studio_prompts.samples as samples
from studio.api import Folders
from studio_prompts.samples import SAMPLE, SAMPLES_DIR, SampleError, copy_samples, sample_files, sample_path


@pytest.fixture
def folders(tmp_path):
    folders = Folders(tmp_path / "ws")
    folders.workflows.mkdir(parents=True)
    return folders


def test_open_sample_never_opens_or_overwrites_a_file_of_the_samples_name_that_is_not_it(folders):
    shipped = (SAMPLES_DIR / SAMPLE).read_bytes()
    mine = folders.workflows / SAMPLE
    mine.write_text('{"not": "a workflow of mine"}')
    found = sample_path(folders)
    copy = found.path
    assert copy == folders.workflows / "qa-sample.workflow.json" and copy is not None
    assert copy.read_bytes() == shipped
    assert found.problem == (
        "workflows/qa.workflow.json is not the sample (a file of yours?): "
        "the sample opens as workflows/qa-sample.workflow.json instead"
    )
    assert mine.read_text() == '{"not": "a workflow of mine"}'
    assert sample_path(folders).path == copy  # asked again: the same copy, not qa-sample-2
    copy.write_text("edited into something else")
    assert sample_path(folders).path == folders.workflows / "qa-sample-2.workflow.json"

    # the user's edits of the sample (a workflow of the sample's name) are the sample
    edited = json.loads(shipped)
    edited["nodes"]["facts"]["params"]["instructions"] = "My own instructions."
    mine.write_text(json.dumps(edited))
    assert sample_path(folders) == samples.SampleCopy(mine, SAMPLES_DIR / SAMPLE, "")


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: p.mkdir(), "is a folder, not a file"),
        (lambda p: os.mkfifo(p), "is not a file (a FIFO, device or socket)"),  # never read: it would block
        (lambda p: p.symlink_to(p.parent / "nowhere.json"), "is a link to nothing, not a file"),
    ],
)
def test_what_has_the_samples_name_is_said_and_the_sample_copied_beside_it(folders, make, said):
    make(folders.workflows / SAMPLE)
    found = sample_path(folders)
    assert found.path == folders.workflows / "qa-sample.workflow.json"
    assert found.problem.startswith(f"workflows/qa.workflow.json {said}: the sample opens as")
    assert not (folders.workflows.parent / "nowhere.json").exists()  # nothing written through the link


def test_a_workflows_folder_that_cannot_be_written_is_said_not_called_a_missing_install(folders, tmp_path, monkeypatch):
    def refused(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(samples, "_copy", refused)  # a read-only folder (tests may run as root)
    found = sample_path(folders)
    assert found.path is None and found.shipped == SAMPLES_DIR / SAMPLE
    assert found.problem == f"the sample cannot be copied into {folders.workflows}: Permission denied"
    monkeypatch.undo()
    folders.workflows.rmdir()
    folders.workflows.write_text("a file where the folder goes")
    found = sample_path(folders)
    assert found.path is None
    assert found.problem == f"{folders.workflows} is a file, not a folder, so the sample cannot be copied there"
    with pytest.raises(SampleError, match="not installed"):  # said only when it is so
        sample_path(folders, tmp_path / "no-samples")


def test_no_samples_are_copied_where_the_copy_cannot_be_remembered(folders, monkeypatch):
    """A file where the plugin's folder goes: the note cannot be written, so copying would
    happen again at every start and bring back the samples the user deleted."""
    plugin_dir = folders.workspace / "prompts"
    plugin_dir.write_text("a file where the plugin's folder goes")
    assert copy_samples(folders, "prompts") == [] and list(folders.workflows.iterdir()) == []
    plugin_dir.unlink()

    def refused(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(samples, "_copy", refused)  # nothing could be copied: tried again next time
    assert copy_samples(folders, "prompts") == [] and not (plugin_dir / samples.NOTE).exists()
    monkeypatch.undo()
    assert {p.name for p in copy_samples(folders, "prompts")} == {p.name for p in sample_files()}
    assert copy_samples(folders, "prompts") == []


def test_the_samples_descriptions_name_paths_a_workspace_has():
    """The qa sample said to run resources/workflows/qa.workflow.json, which no longer exists."""
    names = {p.name for p in sample_files()}
    for path in sample_files():
        description = json.loads(path.read_text())["description"]
        assert "resources/" not in description
        for named in re.findall(r"\S+\.workflow\.(?:json|yaml)", description):
            assert named.startswith("workflows/") and named.removeprefix("workflows/") in names, (path.name, named)
