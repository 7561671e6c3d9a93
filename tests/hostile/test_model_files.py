"""Hostile model files for ``trainer generate``, ``trainer summary`` and ``quantize``:
configs no machine can hold, weights that do not match their config, a pickle where
weights belong, truncated safetensors, a broken config.json, texts that are no text.

Each is refused with one line before anything large is allocated, and no code from a file
runs. One tiny checkpoint is made per module; each test changes its own copy.
"""

from __future__ import annotations

import json
import pickle
import shutil

import pytest

from .conftest import expect_all_refused, expect_ok, expect_refused

HUGE = {"n_layer": 96, "n_head": 128, "n_embd": 16384}  # in range; 1.2 TB of weights


@pytest.fixture
def checkpoint(tiny_checkpoint, tmp_path):
    """This test's own copy of the tiny checkpoint."""
    return shutil.copytree(tiny_checkpoint, tmp_path / "ckpt")


def set_model(folder, **settings) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["model"].update(settings)
    (folder / "config.json").write_text(json.dumps(config))


class Payload:
    """Unpickling this creates ``marker``: proof that a pickle was loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_pickle(path, marker) -> None:
    path.write_bytes(pickle.dumps({"wte.weight": Payload(marker)}))


@pytest.fixture
def text(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("the quick brown fox jumps over the lazy dog\n" * 200)
    return path


# ---------------------------------------------------------------- trainer generate / summary


def test_generate_refuses_a_vocabulary_no_machine_holds(cli, checkpoint):
    set_model(checkpoint, vocab_size=10**10)  # 1.28 TB of embeddings
    expect_refused(cli("trainer", "generate", checkpoint, "--max-new-tokens", "2"), "config.json", "vocab_size")


def test_generate_refuses_a_huge_config_from_the_weights_header_without_allocating(cli, checkpoint):
    set_model(checkpoint, **HUGE)
    expect_refused(cli("trainer", "generate", checkpoint, "--max-new-tokens", "2"), "does not match its config.json")


def test_generate_never_unpickles_weights(cli, checkpoint, tmp_path):
    write_pickle(checkpoint / "model.safetensors", tmp_path / "ran")
    expect_refused(cli("trainer", "generate", checkpoint, "--max-new-tokens", "2"), "pickle")
    assert not (tmp_path / "ran").exists()


def test_generate_refuses_truncated_weights(cli, checkpoint):
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    expect_refused(cli("trainer", "generate", checkpoint, "--max-new-tokens", "2"), "corrupt or not a safetensors")


def test_generate_refuses_a_broken_config(cli, checkpoint):
    (checkpoint / "config.json").write_text('{"format": "tensor-studio-checkpoint/1", "model": {')
    expect_refused(cli("trainer", "generate", checkpoint, "--max-new-tokens", "2"), "config.json")


def test_summary_of_a_model_larger_than_any_machine_allocates_nothing(cli):
    result = expect_ok(cli("trainer", "summary", *(f"--set={k}={v}" for k, v in HUGE.items()), timeout=60))
    assert "TiB" in result.out  # 1.1 TiB of weights, summarised from the meta device
    expect_refused(cli("trainer", "summary", "--set", "model.n_layer=3"), "no such model setting")


# ---------------------------------------------------------------- quantize


def test_quantize_refuses_a_broken_config_without_measuring(cli, checkpoint, tmp_path):
    (checkpoint / "config.json").write_text("{not json")
    expect_refused(cli("quantize", checkpoint, "--out", tmp_path / "q"), "config.json", "not valid JSON")
    assert not (tmp_path / "q").exists()


def test_quantize_says_what_is_wrong_with_a_broken_config_when_measuring(cli, checkpoint, text, tmp_path):
    (checkpoint / "config.json").write_text("[1, 2")
    result = expect_refused(
        cli("quantize", checkpoint, "--out", tmp_path / "q", "--measure", text), "config.json", "not valid JSON"
    )
    assert "unknown architecture" not in result.err


def test_quantize_refuses_a_config_no_machine_holds_when_measuring(cli, checkpoint, text, tmp_path):
    set_model(checkpoint, vocab_size=10**10)
    expect_refused(cli("quantize", checkpoint, "--out", tmp_path / "q", "--measure", text), "vocab_size")
    assert not (tmp_path / "q").exists()


def test_quantize_refuses_a_binary_text_to_measure_on(cli, checkpoint, tmp_path):
    binary = tmp_path / "data.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    expect_refused(cli("quantize", checkpoint, "--out", tmp_path / "q", "--measure", binary), "binary")
    assert not (tmp_path / "q").exists()


def test_quantize_refuses_an_empty_text_to_measure_on(cli, checkpoint, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    expect_refused(cli("quantize", checkpoint, "--out", tmp_path / "q", "--measure", empty), "empty")


def test_quantize_never_unpickles_weights(cli, checkpoint, tmp_path):
    write_pickle(checkpoint / "model.safetensors", tmp_path / "ran")
    expect_refused(cli("quantize", checkpoint, "--out", tmp_path / "q"), "pickle")
    assert not (tmp_path / "ran").exists()


def test_quantize_refuses_out_of_range_flags_in_one_line(cli, checkpoint, tmp_path):
    flags = [("--bits", "9"), ("--repeats", "0")]
    expect_all_refused(
        cli,
        *[(("quantize", checkpoint, "--out", tmp_path / "q", flag, value), f"error: {flag}:") for flag, value in flags],
    )


# ---------------------------------------------------------------- found by the second hostile pass


def nan_weights(folder) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "model.safetensors"))
    save_file(
        {k: v.float().fill_(float("nan")) if v.is_floating_point() else v for k, v in state.items()},
        str(folder / "model.safetensors"),
    )


def test_weights_that_diverged_are_refused_by_generate_and_quantize(cli, checkpoint, tmp_path):
    nan_weights(checkpoint)
    expect_all_refused(
        cli,
        (("trainer", "generate", checkpoint, "--max-new-tokens", "3"), "NaN or infinite"),
        (("quantize", checkpoint, "--out", tmp_path / "q"), "NaN or infinite"),
    )
    assert not (tmp_path / "q").exists()


def test_weights_that_are_a_fifo_a_tokenizer_of_another_size_or_elsewhere(cli, checkpoint, tmp_path):
    tokenizer = checkpoint / "tokenizer.json"
    original = tokenizer.read_text()
    tokenizer.write_text(json.dumps({**json.loads(original), "chars": ["a"]}))
    expect_refused(cli("trainer", "generate", checkpoint, "--max-new-tokens", "3"), "the tokenizer has")
    tokenizer.write_text(original)
    config = json.loads((checkpoint / "config.json").read_text())
    (checkpoint / "config.json").write_text(json.dumps({**config, "tokenizer": str(tokenizer)}))
    expect_refused(cli("trainer", "generate", checkpoint, "--max-new-tokens", "3"), "'tokenizer' must name a file")
    (checkpoint / "config.json").write_text(json.dumps(config))
    (checkpoint / "model.safetensors").unlink()
    import os

    os.mkfifo(checkpoint / "model.safetensors")
    expect_refused(cli("trainer", "generate", checkpoint, "--max-new-tokens", "3", timeout=60), "not a regular file")


def test_quantize_refuses_a_config_nested_too_deeply(cli, checkpoint, tmp_path):
    (checkpoint / "config.json").write_text("[" * 100_000)
    expect_refused(cli("quantize", checkpoint, "--out", tmp_path / "q"), "nested too deeply")
