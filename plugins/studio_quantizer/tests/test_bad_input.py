"""Bad flags and files are refused with one line before any work: out-of-range flags,
a broken config.json, binary or empty texts to measure on, a pickle where weights belong."""

from __future__ import annotations

import pickle

import pytest
import torch

from studio.testing import run_cli as main


@pytest.fixture(autouse=True)
def _studio(make_studio):
    """An isolated studio home and workspace for ``main``."""
    make_studio()


def refused(capsys, *argv: str) -> str:
    assert main(["quantize", *map(str, argv)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--bits", "9"], "error: --bits: Input should be less than or equal"),
        (["--group-size", "1"], "error: --group-size:"),
        (["--repeats", "0"], "error: --repeats: must be 1 to"),
        (["--layer-bits", "blocks.*=12"], "BITS 2 to 8"),
        (["--compare", "int9"], "error: 'int9': the bits go from 2 to 8"),
    ],
)
def test_out_of_range_flags_are_one_line(checkpoint, tmp_path, capsys, flags, fragment):
    assert fragment in refused(capsys, checkpoint, "--out", tmp_path / "q", *flags)
    assert not (tmp_path / "q").exists()


def test_a_broken_config_is_refused_with_or_without_measuring(checkpoint, tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text("some text to measure on\n" * 50)
    (checkpoint / "config.json").write_text('{"model": {"n_embd": 64,}')
    for extra in ([], ["--measure", text]):
        err = refused(capsys, checkpoint, "--out", tmp_path / "q", *extra)
        assert "config.json: not valid JSON" in err and "unknown architecture" not in err
        assert not (tmp_path / "q").exists()


def test_binary_or_empty_texts_are_refused(checkpoint, tmp_path, capsys):
    binary, empty = tmp_path / "data.bin", tmp_path / "empty.txt"
    binary.write_bytes(bytes(range(256)) * 100)
    empty.write_text("")
    assert "binary file" in refused(capsys, checkpoint, "--out", tmp_path / "q", "--measure", binary)
    assert "the text is empty" in refused(capsys, checkpoint, "--out", tmp_path / "q", "--measure", empty)
    assert not (tmp_path / "q").exists()


def test_a_pickle_where_weights_belong_is_never_unpickled(checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("unpickled"))
    (checkpoint / "model.safetensors").write_bytes(pickle.dumps({"wte.weight": [0.0]}))
    assert "a PyTorch pickle, not safetensors" in refused(capsys, checkpoint, "--out", tmp_path / "q")


def test_a_full_disk_leaves_no_partial_folder(checkpoint, tmp_path, monkeypatch):
    import errno

    import safetensors.torch

    from studio_quantizer.quantized import QuantizeError, quantize_state_dict, read_state_dict, save_quantized
    from studio_quantizer.scheme import Scheme

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    quantized, kept, _ = quantize_state_dict(read_state_dict(checkpoint), Scheme())
    monkeypatch.setattr(safetensors.torch, "save_file", disk_full)
    with pytest.raises(QuantizeError, match="No space left on device"):
        save_quantized(quantized, kept, Scheme(), checkpoint, tmp_path / "q")
    assert not (tmp_path / "q").exists() and not (tmp_path / "q.partial").exists()


@pytest.mark.parametrize("name", ["~no-such-user-f2/ckpt", "a" * 300, "a/" * 3000])
def test_a_model_name_no_file_system_takes_is_one_line(capsys, name):
    """``~user`` of no such user, a name over 255 bytes, a path over PATH_MAX: bad input
    (exit 2, one short line), not a crash report."""
    err = refused(capsys, name)
    assert "no such folder" in err or "not a usable folder name" in err
    assert len(err) < 400, err


def test_a_quantize_job_naming_no_model_is_refused_before_its_run_folder(studio_home, capsys):
    from studio_quantizer.config import QuantizeParams

    workspace = studio_home / "workspace"
    assert main(["-w", workspace, "jobs", "run", "quantizer.quantize", "--set", "checkpoint=nosuch"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint: no run 'nosuch' in the workspace" in err, err
    assert not list((workspace / "runs").glob("*quantize*"))  # refused before a run folder was made
    # a form validating what is being typed never looks at the disk (no submit context)
    assert QuantizeParams.model_validate({"checkpoint": "nosuch"}).checkpoint == "nosuch"


def test_a_manifest_of_the_wrong_shape_is_refused(checkpoint, tmp_path, capsys):
    import json

    quantized = tmp_path / "q"
    assert main(["quantize", str(checkpoint), "--out", str(quantized)]) == 0
    capsys.readouterr()
    manifest = json.loads((quantized / "quantization.json").read_text())
    entries = manifest["tensors"]
    damaged: dict[str, tuple[object, str]] = {
        "a list": ([], "is not a version-1"),
        "null": (None, "is not a version-1"),
        "tensors a list": ({**manifest, "tensors": []}, "is not a version-1"),
        "entries lists": ({**manifest, "tensors": {k: [1] for k in entries}}, "does not match its manifest entry"),
        "bits text": (
            {**manifest, "tensors": {k: {**v, "bits": "8"} for k, v in entries.items()}},
            "does not match its manifest entry",
        ),
    }
    for name, (data, fragment) in damaged.items():
        (quantized / "quantization.json").write_text(json.dumps(data))
        err = refused(capsys, quantized, "--dequantize", "--out", tmp_path / name.replace(" ", "-"))
        assert fragment in err, (name, err)


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_or_device_in_a_quantized_folder_is_refused(checkpoint, tmp_path, capsys):
    """A FIFO in the manifest's or the codes' place blocked the reader; /dev/zero read until
    memory ran out."""
    import os

    quantized = tmp_path / "q"
    assert main(["quantize", str(checkpoint), "--out", str(quantized)]) == 0
    capsys.readouterr()
    for name in ("quantization.json", "quantized.safetensors"):
        saved = (quantized / name).read_bytes()
        (quantized / name).unlink()
        os.mkfifo(quantized / name)
        assert "not a regular file" in refused(capsys, quantized, "--dequantize", "--out", tmp_path / "d")
        (quantized / name).unlink()
        (quantized / name).symlink_to("/dev/zero")
        assert "not a regular file" in refused(capsys, quantized, "--dequantize", "--out", tmp_path / "d")
        (quantized / name).unlink()
        (quantized / name).write_bytes(saved)
    assert not (tmp_path / "d").exists()
