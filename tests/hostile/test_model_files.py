"""Hostile model files for ``trainer generate``, ``trainer summary`` and ``quantize``:
configs no machine can hold, weights that do not match their config, a pickle where
weights belong, truncated safetensors, a broken config.json, texts that are no text.

Each is refused with one line before anything large is allocated, and no code from a file
runs. One tiny checkpoint is made per session; each case changes its own copy. The
single-command cases run in one process, once per module (``refusals``).
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import Cli, CliResult, expect_all_refused, expect_ok, expect_refused

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


# The single-command refusals: each case damages its own copy of the checkpoint (in its
# own folder) and names the command; the module's ``refusals`` fixture runs them all in one
# process (``Cli.batch``), and each test checks its case's result.


def _generate(checkpoint):
    return ("trainer", "generate", checkpoint, "--max-new-tokens", "2")


def _text(folder, data: bytes) -> Path:
    path = folder / "text.txt"
    path.write_bytes(data)
    return path


TEXT = b"the quick brown fox jumps over the lazy dog\n" * 200


CASES: dict[str, Callable[[Path, Path], tuple]] = {}


def case(name: str):
    """Registers ``make(checkpoint, folder) -> command`` as the case ``name``."""

    def register(make):
        CASES[name] = make
        return make

    return register


@case("generate-vocab")
def _generate_vocab(ck, folder):
    set_model(ck, vocab_size=10**10)  # 1.28 TB of embeddings
    return _generate(ck)


@case("generate-huge")
def _generate_huge(ck, folder):
    set_model(ck, **HUGE)
    return _generate(ck)


@case("generate-pickle")
def _generate_pickle(ck, folder):
    write_pickle(ck / "model.safetensors", folder / "ran")
    return _generate(ck)


@case("generate-truncated")
def _generate_truncated(ck, folder):
    weights = ck / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    return _generate(ck)


@case("generate-config")
def _generate_config(ck, folder):
    (ck / "config.json").write_text('{"format": "tensor-studio-checkpoint/1", "model": {')
    return _generate(ck)


@case("quantize-config")
def _quantize_config(ck, folder):
    (ck / "config.json").write_text("{not json")
    return ("quantize", ck, "--out", folder / "q")


@case("quantize-config-measure")
def _quantize_config_measure(ck, folder):
    (ck / "config.json").write_text("[1, 2")
    return ("quantize", ck, "--out", folder / "q", "--measure", _text(folder, TEXT))


@case("quantize-vocab-measure")
def _quantize_vocab_measure(ck, folder):
    set_model(ck, vocab_size=10**10)
    return ("quantize", ck, "--out", folder / "q", "--measure", _text(folder, TEXT))


@case("quantize-binary")
def _quantize_binary(ck, folder):
    return ("quantize", ck, "--out", folder / "q", "--measure", _text(folder, bytes(range(256)) * 64))


@case("quantize-empty")
def _quantize_empty(ck, folder):
    return ("quantize", ck, "--out", folder / "q", "--measure", _text(folder, b""))


@case("quantize-pickle")
def _quantize_pickle(ck, folder):
    write_pickle(ck / "model.safetensors", folder / "ran")
    return ("quantize", ck, "--out", folder / "q")


@dataclass
class Case:
    folder: Path  # the case's own folder (its checkpoint copy is ``ckpt`` in it)
    result: CliResult


@pytest.fixture(scope="module")
def refusals(tiny_checkpoint, tmp_path_factory) -> dict[str, Case]:
    from studio.core.workspace import Workspace

    root = tmp_path_factory.mktemp("refusals")
    Workspace.create(root / "workspace")
    cli = Cli(root / "home", root / "workspace")
    folders, commands = {}, []
    for name, make in CASES.items():
        folders[name] = root / name
        folders[name].mkdir()
        commands.append(make(shutil.copytree(tiny_checkpoint, folders[name] / "ckpt"), folders[name]))
    return {name: Case(folders[name], result) for name, result in zip(CASES, cli.batch(*commands), strict=True)}


# ---------------------------------------------------------------- trainer generate / summary


def test_generate_refuses_a_vocabulary_no_machine_holds(refusals):
    expect_refused(refusals["generate-vocab"].result, "config.json", "vocab_size")


def test_generate_refuses_a_huge_config_from_the_weights_header_without_allocating(refusals):
    expect_refused(refusals["generate-huge"].result, "does not match its config.json")


def test_generate_never_unpickles_weights(refusals):
    case = refusals["generate-pickle"]
    expect_refused(case.result, "pickle")
    assert not (case.folder / "ran").exists()


def test_generate_refuses_truncated_weights(refusals):
    expect_refused(refusals["generate-truncated"].result, "corrupt or not a safetensors")


def test_generate_refuses_a_broken_config(refusals):
    expect_refused(refusals["generate-config"].result, "config.json")


def test_summary_of_a_model_larger_than_any_machine_allocates_nothing(cli):
    result = expect_ok(cli("trainer", "summary", *(f"--set={k}={v}" for k, v in HUGE.items()), timeout=60))
    assert "TiB" in result.out  # 1.1 TiB of weights, summarised from the meta device
    expect_refused(cli("trainer", "summary", "--set", "model.n_layer=3"), "no such model setting")


# ---------------------------------------------------------------- quantize


def test_quantize_refuses_a_broken_config_without_measuring(refusals):
    case = refusals["quantize-config"]
    expect_refused(case.result, "config.json", "not valid JSON")
    assert not (case.folder / "q").exists()


def test_quantize_says_what_is_wrong_with_a_broken_config_when_measuring(refusals):
    result = expect_refused(refusals["quantize-config-measure"].result, "config.json", "not valid JSON")
    assert "unknown architecture" not in result.err


def test_quantize_refuses_a_config_no_machine_holds_when_measuring(refusals):
    case = refusals["quantize-vocab-measure"]
    expect_refused(case.result, "vocab_size")
    assert not (case.folder / "q").exists()


def test_quantize_refuses_a_binary_text_to_measure_on(refusals):
    case = refusals["quantize-binary"]
    expect_refused(case.result, "binary")
    assert not (case.folder / "q").exists()


def test_quantize_refuses_an_empty_text_to_measure_on(refusals):
    expect_refused(refusals["quantize-empty"].result, "empty")


def test_quantize_never_unpickles_weights(refusals):
    case = refusals["quantize-pickle"]
    expect_refused(case.result, "pickle")
    assert not (case.folder / "ran").exists()


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
    import os

    resized, elsewhere = (
        shutil.copytree(checkpoint, tmp_path / "resized"),
        shutil.copytree(checkpoint, tmp_path / "els"),
    )
    tokenizer = resized / "tokenizer.json"
    tokenizer.write_text(json.dumps({**json.loads(tokenizer.read_text()), "chars": ["a"]}))
    config = json.loads((elsewhere / "config.json").read_text())
    (elsewhere / "config.json").write_text(json.dumps({**config, "tokenizer": str(checkpoint / "tokenizer.json")}))
    (checkpoint / "model.safetensors").unlink()
    os.mkfifo(checkpoint / "model.safetensors")
    expect_all_refused(  # a FIFO read would hang: the batch's timeout fails the test
        cli,
        (("trainer", "generate", resized, "--max-new-tokens", "3"), "the tokenizer has"),
        (("trainer", "generate", elsewhere, "--max-new-tokens", "3"), "'tokenizer' must name a file"),
        (("trainer", "generate", checkpoint, "--max-new-tokens", "3"), "not a regular file"),
        timeout=60,
    )


def test_quantize_refuses_a_config_nested_too_deeply(cli, checkpoint, tmp_path):
    (checkpoint / "config.json").write_text("[" * 100_000)
    expect_refused(cli("quantize", checkpoint, "--out", tmp_path / "q"), "nested too deeply")
