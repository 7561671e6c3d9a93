"""Hugging Face models in the model picker (issue 19): the trainer's ``trainer.hf`` source lists
causal LM folders of the workspace's ``models/`` folder and of the local hub cache (snapshots
whose files link into ``blobs/``), with size, family and dtype; encoders and broken folders are
left out without hiding the others, and ``resolve_model`` of a listed ref gives its folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from studio.api import Folders, list_models, resolve_model
from studio.testing import tiny_hf_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_hf_model(tmp_path_factory.mktemp("tiny") / "llama", family="llama", dtype="float32")


def cache_repo(cache: Path, repo: str, source: Path, revision: str = "abc123") -> Path:
    """``source`` laid out as the hub does: blobs plus a snapshot of links into them."""
    root = cache / f"models--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / revision
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True)
    for file in source.iterdir():
        blob = root / "blobs" / f"{revision}-{file.name}"
        shutil.copyfile(file, blob)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(revision)
    return root


@pytest.fixture
def trainer_sources(studio_home):
    from studio.core.plugins import install_process_host, new_host
    from studio_trainer import hooks

    host = new_host(discover=False)
    host.register(hooks, "studio_trainer")
    install_process_host(host)
    return host


@pytest.fixture
def workspace(tmp_path, tiny, monkeypatch) -> Folders:
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    folders = Folders(tmp_path / "ws")
    shutil.copytree(tiny, folders.models / "my-llama")
    shutil.copytree(tiny, folders.models / "org" / "nested")
    cache_repo(cache, "acme/tiny-llama", tiny)
    return folders


def test_workspace_and_cached_models_are_listed_with_size_family_and_dtype(workspace, tiny):
    from studio_trainer.hf.listing import KIND, list_hf

    entries = {e.name: e for e in list_hf(workspace)}
    assert set(entries) == {"my-llama", "org/nested", "acme/tiny-llama"}
    weights = (tiny / "model.safetensors").stat().st_size
    cached = entries["acme/tiny-llama"]
    assert cached.kind == KIND
    assert cached.size_bytes == weights  # followed the links to the blobs, not the links' own size
    assert cached.path.parent.name == "snapshots"
    assert "llama" in cached.detail and "float32" in cached.detail
    assert entries["my-llama"].size_bytes == weights


def test_encoders_and_broken_folders_are_skipped_without_hiding_the_others(workspace, tiny, caplog):
    from studio_trainer.hf.listing import hub_cache, list_hf

    bert = workspace.models / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    (bert / "model.safetensors").write_bytes(b"\0" * 16)
    bad = workspace.models / "bad-json"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    dangling = cache_repo(hub_cache(), "acme/dangling", tiny)
    for blob in (dangling / "blobs").iterdir():
        if blob.name.endswith("model.safetensors"):
            blob.unlink()  # the snapshot's weights link now points nowhere
    no_snapshot = hub_cache() / "models--acme--empty"
    (no_snapshot / "snapshots").mkdir(parents=True)
    with caplog.at_level("WARNING"):
        names = {e.name for e in list_hf(workspace)}
    assert names == {"my-llama", "org/nested", "acme/tiny-llama"}
    logged = caplog.text
    assert "bad-json" in logged and "acme--dangling" in logged and "bert" not in logged


def test_resolve_maps_a_cache_repo_folder_to_its_main_snapshot(tmp_path, tiny):
    from studio_trainer.hf.listing import resolve

    repo = cache_repo(tmp_path / "hub", "x/y", tiny, revision="r1")
    other = repo / "snapshots" / "r2"
    shutil.copytree(repo / "snapshots" / "r1", other, symlinks=True)
    os.utime(other, (2e9, 2e9))  # newer, but refs/main names r1
    assert resolve(repo) == repo / "snapshots" / "r1"
    assert resolve(repo / "snapshots" / "r2") == repo / "snapshots" / "r2"
    assert resolve(tmp_path) is None


def test_list_models_includes_them_and_resolve_model_gives_back_the_folder(trainer_sources, workspace):
    entries = [e for e in list_models(workspace) if e.kind == "Hugging Face"]
    assert {e.name for e in entries} == {"my-llama", "org/nested", "acme/tiny-llama"}
    for entry in entries:
        assert resolve_model(entry.ref, workspace) == entry.path
