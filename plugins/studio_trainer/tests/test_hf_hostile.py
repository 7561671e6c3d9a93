"""Hostile Hugging Face folders (issue 19): each is refused with one line (exit 2 in the
CLI), nothing in a data file runs, and nothing outside the folder is read."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from studio.testing import run_cli, tiny_hf_model


@pytest.fixture(scope="module")
def llama(tmp_path_factory) -> Path:
    return tiny_hf_model(tmp_path_factory.mktemp("hf") / "llama", "llama")


def _copy(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest


def _refused(capsys, folder: Path, *extra: str) -> str:
    capsys.readouterr()
    code = run_cli(["trainer", "generate", str(folder), "--max-new-tokens", "2", "--device", "cpu", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _shards(folder: Path) -> dict[str, str]:
    """The folder's weights split in two shards with an index; returns its weight_map."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    keys = sorted(state)
    names = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
    halves = (keys[: len(keys) // 2], keys[len(keys) // 2 :])
    for name, part in zip(names, halves, strict=True):
        save_file({k: state[k] for k in part}, str(folder / name), metadata={"format": "pt"})
    return {k: names[0] if k in halves[0] else names[1] for k in keys}


def test_a_weight_index_naming_a_path_outside_the_folder_is_refused(llama, tmp_path, capsys):
    folder = _copy(llama, tmp_path / "sharded")
    weight_map = _shards(folder)
    # the same name is in the folder, but transformers would join ../../x/<name> to it
    weight_map = {k: f"../../x/{v}" if v.startswith("model-00002") else v for k, v in weight_map.items()}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    assert "not a file in the folder" in _refused(capsys, folder)
    absolute = {k: str(folder / v) for k, v in _shards(_copy(llama, tmp_path / "abs")).items()}
    (tmp_path / "abs" / "model.safetensors.index.json").write_text(json.dumps({"weight_map": absolute}))
    assert "not a file in the folder" in _refused(capsys, tmp_path / "abs")


@pytest.mark.parametrize("name", ["generation_config.json", "model.safetensors", "tokenizer.json"])
def test_a_pipe_or_folder_where_a_file_belongs_is_refused_without_blocking(llama, tmp_path, capsys, name):
    folder = _copy(llama, tmp_path / "fifo")
    (folder / name).unlink()
    os.mkfifo(folder / name)  # reading it would block forever
    assert "is not a regular file" in _refused(capsys, folder)
    shutil.rmtree(folder)
    folder = _copy(llama, tmp_path / "dir")
    (folder / name).unlink()
    (folder / name).mkdir()
    assert "is not a regular file" in _refused(capsys, folder)


def test_weights_missing_from_the_file_are_refused_not_filled_at_random(llama, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    folder = _copy(llama, tmp_path / "partial")
    state = load_file(str(folder / "model.safetensors"))
    save_file({k: v for k, v in state.items() if "layers.1." not in k}, str(folder / "model.safetensors"))
    assert "missing, e.g. model.layers.1." in _refused(capsys, folder)


def test_shapes_unlike_the_config_are_refused_in_one_line(llama, tmp_path, capsys):
    folder = _copy(llama, tmp_path / "wide")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_size": 64}))
    assert "shapes do not match config.json" in _refused(capsys, folder)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"num_hidden_layers": "2"}, "could not load the model"),  # transformers' strict dataclass check
        ({"torch_dtype": "evil", "dtype": "evil"}, "evil"),
    ],
)
def test_malformed_config_values_are_one_line(llama, tmp_path, capsys, change, expected):
    folder = _copy(llama, tmp_path / "config")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **change}))
    assert expected in _refused(capsys, folder)


def test_a_tokenizer_config_that_is_not_a_dict_is_one_line(llama, tmp_path, capsys):
    folder = _copy(llama, tmp_path / "tok")
    (folder / "tokenizer_config.json").write_text("[]")
    assert "tokenizer could not be loaded" in _refused(capsys, folder)


def test_allow_pickle_still_never_runs_a_pickle_s_code(llama, tmp_path, capsys):
    from safetensors.torch import load_file

    marker = tmp_path / "unpickled"

    class Planted:
        def __reduce__(self):
            return (Path.touch, (marker,))

    folder = _copy(llama, tmp_path / "pickled")
    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save({**state, "planted": Planted()}, folder / "pytorch_model.bin")
    err = _refused(capsys, folder, "--allow-pickle")
    assert "weights_only refuses" in err and "pytorch_model.bin" in err
    assert not marker.exists()


@pytest.mark.parametrize("ref", ["fifo", "zero"])
def test_a_hub_cache_ref_that_is_a_pipe_or_endless_does_not_block_the_listing(llama, tmp_path, ref):
    from studio_trainer.hf.listing import resolve

    repo = tmp_path / "models--org--name"
    snapshot = repo / "snapshots" / "abc"
    shutil.copytree(llama, snapshot)
    (repo / "refs").mkdir()
    if ref == "fifo":
        os.mkfifo(repo / "refs" / "main")  # reading it would block forever
    else:
        (repo / "refs" / "main").symlink_to("/dev/zero")  # reading it would never end
    assert resolve(repo) == snapshot


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
        "{% for %}",
    ],
)
def test_a_hostile_chat_template_runs_nothing_and_fails_in_one_line(llama, tmp_path, template):
    from studio_trainer.hf.tokenizer import HFTokenizer

    folder = _copy(llama, tmp_path / "template")
    marker = tmp_path / "marker"
    (folder / "chat_template.jinja").write_text(template.replace("MARKER", str(marker)))
    tokenizer = HFTokenizer.load(folder)
    with pytest.raises(ValueError, match="chat template could not be rendered") as refused:
        tokenizer.chat([{"role": "user", "content": "hi"}])
    assert len(str(refused.value).splitlines()) == 1
    assert not marker.exists()


def test_nan_weights_are_refused_at_load_in_one_line(llama, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    folder = _copy(llama, tmp_path / "nan")
    state = load_file(str(folder / "model.safetensors"))
    state["model.norm.weight"] = torch.full_like(state["model.norm.weight"], float("nan"))
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    assert "NaN or infinite values (model.norm.weight" in _refused(capsys, folder)


def test_merging_into_an_existing_folder_is_bad_input_at_submit(tmp_path, studio_home, capsys):
    from studio.testing import run_cli

    existing = tmp_path / "mine"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    code = run_cli(
        ["jobs", "run", "trainer.merge_lora", "--set", f"checkpoint={tmp_path}", "--set", f"output={existing}"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "exists; choose another output folder" in err, err
    assert (existing / "keep.txt").read_text() == "mine"


def test_a_fine_tune_whose_base_is_relative_is_refused(tmp_path, monkeypatch):
    import json

    from studio_trainer.train.checkpoint import CheckpointError, load_checkpoint

    folder = tmp_path / "ckpt"
    folder.mkdir()
    config = {"format": "tensor-studio-checkpoint/1", "base": "models/x", "lora": None, "step": 1}
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match="'base' must be an absolute path"):
        load_checkpoint(folder)
