"""Hostile flags and corpora for the trainer: ``trainer generate``'s flags at their edges,
``--set`` values past any sensible bound, and corpora that are not text files (a FIFO
that would block forever, an empty file, a folder of binaries, one huge line).

Bad flags exit 2 with one line before anything is loaded; a corpus the job cannot use
fails the job (exit 1) with a message, never a hang or a traceback.
"""

from __future__ import annotations

import os
import random

from studio.api import Folders

from .conftest import expect_all_refused, expect_failed, expect_ok

TINY_RUN = [
    "--set",
    "max_steps=1",
    "--set",
    "eval_iters=1",
    "--set",
    "sample_interval=0",
    "--set",
    'model={"n_layer": 1, "n_head": 2, "n_embd": 32, "block_size": 16}',
]


def train(cli, corpus, *extra, timeout: float = 120):
    return cli(
        "jobs", "run", "trainer.train", "--quiet", "--set", f"data.corpus={corpus}", *TINY_RUN, *extra, timeout=timeout
    )


# ---------------------------------------------------------------- trainer generate


def test_temperature_zero_is_greedy_and_top_k_zero_is_no_cut(cli, tiny_checkpoint):
    result = expect_ok(
        cli(
            "trainer",
            "generate",
            tiny_checkpoint,
            "--prompt",
            "abc",
            "--temperature",
            "0",
            "--top-k",
            "0",
            "--max-new-tokens",
            "5",
        )
    )
    assert result.out.startswith("abc") and len(result.out.strip()) == 8


def test_generate_refuses_bad_flags_before_loading(cli, tiny_checkpoint):
    flags = [("--device", "tpu"), ("--max-new-tokens", "-1"), ("--seed", str(2**64)), ("--temperature", "nan")]
    expect_all_refused(
        cli, *[(("trainer", "generate", tiny_checkpoint, flag, value), f"error: {flag}:") for flag, value in flags]
    )


# ---------------------------------------------------------------- --set bounds


def test_settings_past_any_bound_fail_validation(cli, tmp_path):
    settings = [
        ("max_steps=1e18", "max_steps"),
        ("learning_rate=1e999", "learning_rate"),
        ("data.corpus=", "data.corpus"),
    ]
    expect_all_refused(cli, *[(("jobs", "run", "trainer.train", "--set", setting), name) for setting, name in settings])
    assert not any(Folders(cli.workspace).runs.glob("*"))  # refused before a run folder was made


# ---------------------------------------------------------------- corpora


def test_a_fifo_corpus_is_refused_instead_of_hanging(cli, tmp_path):
    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    expect_failed(train(cli, fifo, timeout=90), "not a regular file")


def test_an_empty_corpus_says_so(cli, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    expect_failed(train(cli, empty), "is empty")


def test_a_folder_of_binaries_says_so(cli, tmp_path):
    folder = tmp_path / "blobs"
    folder.mkdir()
    for i in range(3):
        (folder / f"blob{i}.txt").write_bytes(bytes(range(256)) * 10)
    expect_failed(train(cli, folder), "no readable text files", "skipped as binary or empty")


def test_one_huge_line_trains_a_bpe_tokenizer_in_seconds(cli, tmp_path):
    """A 1M-character line without spaces took BPE training far past this timeout."""
    line = tmp_path / "one-line.txt"
    rng = random.Random(0)
    line.write_text("".join(rng.choice("abcdefghij") for _ in range(1_000_000)))
    expect_ok(train(cli, line, "--set", "data.tokenizer=bpe", "--set", "data.vocab_size=300", timeout=150))
