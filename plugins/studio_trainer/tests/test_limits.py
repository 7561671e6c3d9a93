"""Memory is checked before it is allocated, out-of-memory becomes a message, a failed
checkpoint write leaves nothing half-written, and parameters are bounded and finite."""

from __future__ import annotations

import errno
import json
import os
import threading
from collections import namedtuple

import pytest
import torch
from pydantic import ValidationError

from studio_trainer.config import GenerateParams, ModelConfig, TrainParams
from studio_trainer.data.corpus import CorpusError, load_texts
from studio_trainer.data.tokenizer import CharTokenizer
from studio_trainer.model.gpt import GPT
from studio_trainer.train import checkpoint as ckpt
from studio_trainer.train import loop
from studio_trainer.train.memory import NotEnoughMemory, is_out_of_memory, meta_model

from .helpers import tiny

SMALL = ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=20)


@pytest.fixture
def saved(tmp_path):
    """A tiny saved checkpoint (random weights)."""
    torch.manual_seed(0)
    return ckpt.save_checkpoint(
        tmp_path / "ckpt", GPT(SMALL), CharTokenizer(list("abcdefghijklmnopqrs")), step=1, val_loss=None
    )


def little_ram(monkeypatch, available: int = 1024) -> None:
    """psutil reports ``available`` bytes free (the check must not depend on this machine)."""
    import psutil

    svmem = namedtuple("svmem", "total available percent used free")
    monkeypatch.setattr(psutil, "virtual_memory", lambda: svmem(1 << 40, available, 99.0, 0, available))


def test_a_checkpoint_that_does_not_fit_is_refused_before_the_model_is_built(saved, monkeypatch):
    little_ram(monkeypatch)
    monkeypatch.setattr(ckpt, "GPT", lambda *a: pytest.fail("the model was built"))
    with pytest.raises(NotEnoughMemory, match=r"needs about .* this machine has 1\.0 KiB free"):
        ckpt.load_checkpoint(saved)


def test_weights_of_another_shape_are_refused_from_the_header_before_building(saved, monkeypatch):
    config = json.loads((saved / "config.json").read_text())
    config["model"]["n_embd"] = 64
    (saved / "config.json").write_text(json.dumps(config))
    monkeypatch.setattr(ckpt, "GPT", lambda *a: pytest.fail("the model was built"))
    with pytest.raises(
        ckpt.CheckpointError, match=r"does not match its config\.json.*\.bias is \[32\], the config makes \[64\]"
    ):
        ckpt.load_checkpoint(saved)


def test_a_vocabulary_no_machine_holds_is_an_invalid_config(saved):
    config = json.loads((saved / "config.json").read_text())
    config["model"]["vocab_size"] = 10**10
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        ckpt.CheckpointError, match=r"invalid model config: model\.vocab_size|vocab_size: Input should be"
    ):
        ckpt.load_checkpoint(saved)


def test_a_pickle_is_never_unpickled(saved, tmp_path, monkeypatch):
    import pickle

    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("unpickled"))
    torch.save({"wte.weight": torch.zeros(2)}, saved / "model.safetensors")
    with pytest.raises(ckpt.CheckpointError, match="pickle"):
        ckpt.load_checkpoint(saved)
    (saved / "model.safetensors").unlink()
    torch.save({}, saved / "pytorch_model.bin")
    with pytest.raises(ckpt.CheckpointError, match=r"pytorch_model\.bin is a PyTorch pickle"):
        ckpt.resolve_checkpoint(saved)


def test_the_summary_builds_on_the_meta_device(monkeypatch, capsys):
    from studio_trainer import cli
    from studio_trainer.model import summary as summaries

    devices = []
    real = summaries.summarize

    def recording(model, *args):
        devices.append(next(model.parameters()).device)
        return real(model, *args)

    monkeypatch.setattr(summaries, "summarize", recording)

    def summary(*settings: str) -> dict:
        args = type(
            "Args",
            (),
            {"set": list(settings), "vocab_size": 65, "batch_size": 12, "json": True, "grad_checkpointing": False},
        )()
        assert cli._summary(args) == 0
        return json.loads(capsys.readouterr().out)

    assert summary("n_layer=2", "n_embd=32")["total_params"] > 0
    assert devices == [torch.device("meta")]  # checked on a small model first: the large one would be built
    assert summary("n_layer=96", "n_embd=16384", "n_head=128")["total_params"] > 3e11  # 1.2 TB, never allocated
    assert meta_model(SMALL).wte.weight.is_meta


def test_training_a_model_that_does_not_fit_is_refused_before_building(job_context, corpus, monkeypatch):
    little_ram(monkeypatch)
    monkeypatch.setattr(loop, "GPT", lambda *a: pytest.fail("the model was built"))
    ctx = job_context()
    with pytest.raises(loop.TrainingError, match=r"training this model .* needs about"):
        loop.train(TrainParams.model_validate(tiny(corpus)), ctx)
    assert not (ctx.run_dir / "checkpoints").exists()


def test_out_of_memory_while_training_is_one_message(job_context, corpus, monkeypatch):
    def allocator_fails(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 1280000000000 bytes. Error code 12 (Cannot allocate memory)"
        )

    monkeypatch.setattr(loop, "train_step", allocator_fails)
    with pytest.raises(loop.TrainingError, match=r"ran out of memory .* try a smaller batch"):
        loop.train(TrainParams.model_validate(tiny(corpus)), job_context())
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory")) and not is_out_of_memory(RuntimeError("x"))


def test_a_failed_checkpoint_write_removes_the_partial_folder_and_keeps_the_previous(saved, monkeypatch):
    before = (saved / "model.safetensors").read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt, "save_model", disk_full)
    with pytest.raises(ckpt.CheckpointError, match=r"disk is full.*previous ckpt checkpoint is kept"):
        ckpt.save_checkpoint(saved, GPT(SMALL), CharTokenizer(list("ab")), step=2, val_loss=None)
    assert sorted(p.name for p in saved.parent.iterdir()) == ["ckpt"]  # no ckpt.partial left behind
    assert (saved / "model.safetensors").read_bytes() == before


def test_a_fifo_corpus_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "corpus.fifo"
    os.mkfifo(fifo)
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(_error_of(load_texts, str(fifo))), daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock the reader before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO corpus blocked")
    assert isinstance(outcome[0], CorpusError) and "not a regular file" in str(outcome[0])


def _error_of(function, *args):
    try:
        function(*args)
    except Exception as exc:
        return exc
    return None


def test_a_huge_single_line_reads_at_most_max_chars(tmp_path):
    big = tmp_path / "one-line.txt"
    big.write_text("ab" * 3_000_000)
    assert [len(t) for t in load_texts(str(big), max_chars=1000)] == [1000]


def test_temperature_zero_is_greedy_and_top_k_zero_keeps_every_token():
    torch.manual_seed(0)
    model = GPT(SMALL).eval()
    idx = torch.tensor([[1, 2, 3]])
    greedy = model.generate(idx, 5, temperature=0.0, top_k=0)
    expected = idx
    for _ in range(5):
        expected = torch.cat((expected, model(expected[:, -16:])[0][:, -1].argmax(-1, keepdim=True)), dim=1)
    assert torch.equal(greedy, expected)
    assert model.generate(idx, 5, temperature=1.0, top_k=0).shape == (1, 8)


@pytest.mark.parametrize(
    "values",
    [
        {"max_steps": 1e18},
        {"learning_rate": float("inf")},
        {"grad_clip": float("inf")},
        {"batch_size": 10**12},
        {"seed": 2**64},
        {"model": {"vocab_size": 10**10}},
        {"eval_iters": 10**9},
    ],
)
def test_train_params_are_finite_and_bounded(values):
    with pytest.raises(ValidationError):
        TrainParams.model_validate(values)


@pytest.mark.parametrize(
    "values", [{"seed": 2**64}, {"seed": -1}, {"temperature": float("inf")}, {"max_new_tokens": -1}, {"device": "tpu"}]
)
def test_generate_params_are_bounded(values):
    with pytest.raises(ValidationError):
        GenerateParams.model_validate({"checkpoint": "x", **values})
    assert GenerateParams(checkpoint="x", temperature=0, top_k=0).top_k == 0  # greedy, no top-k: allowed


def test_a_bpe_tokenizer_trains_quickly_on_one_huge_line():
    """One 600k-character word took minutes (BPE training is quadratic in a word's length)."""
    import random
    import time

    from studio_trainer.data.tokenizer import BPETokenizer

    rng = random.Random(0)
    line = "".join(rng.choice("abcdefghij") for _ in range(600_000))
    started = time.perf_counter()
    tokenizer = BPETokenizer.train([line], 300)
    assert time.perf_counter() - started < 30
    assert tokenizer.decode(tokenizer.encode(line[:5000])) == line[:5000]


def test_resuming_a_run_whose_saved_settings_are_now_invalid_is_one_line(job_context, corpus):
    first = job_context("first")
    loop.train(TrainParams.model_validate(tiny(corpus, max_steps=10)), first)
    state = first.run_dir / "checkpoints" / "step-000010" / "train_state.json"
    meta = json.loads(state.read_text())
    meta["params"]["batch_size"] = 10**12
    state.write_text(json.dumps(meta))
    with pytest.raises(loop.TrainingError, match=r"^the run's saved settings are invalid: batch_size: [^\n]*$"):
        loop.train(TrainParams.model_validate(tiny(corpus, resume=str(first.run_dir))), job_context("again"))


# ---------------------------------------------------------------- naming a checkpoint (issue 17)


def a_run(saved, tmp_path, run_id: str = "20261201-000000-trainer.train-0001"):
    """A run folder of a workspace: checkpoints/best and checkpoints/step-000001 (copies of
    ``saved``), and latest.json naming the step; its Folders and run folder are returned."""
    import shutil

    from studio.api import Folders

    folders = Folders(tmp_path / "ws")
    checkpoints = folders.run_dir(run_id) / "checkpoints"
    shutil.copytree(saved, checkpoints / "best")
    shutil.copytree(saved, checkpoints / "step-000001")
    ckpt.mark_latest(checkpoints, checkpoints / "step-000001", 1, keep=2)
    return folders, folders.run_dir(run_id)


OUTSIDE = "points outside"
WRONG = r'expected \{"path": "<checkpoint folder name>"'


@pytest.mark.parametrize(
    "latest, says",
    [
        ({"path": "OUTSIDE"}, OUTSIDE),  # an absolute path (filled in below)
        ({"path": "../../../outside"}, OUTSIDE),
        ({"path": ".."}, OUTSIDE),
        ({"path": "best/../../../outside"}, OUTSIDE),
        ({"path": 5}, WRONG),
        ({"path": None}, WRONG),
        ({"path": ""}, WRONG),
        ([1], WRONG),
        (None, WRONG),
    ],
)
def test_latest_json_names_only_a_checkpoint_of_its_own_run(saved, tmp_path, latest, says):
    """A hand-edited or planted latest.json never sends a resume (or a load) outside the
    run, and a value of the wrong type is said as such, not as a Python internal ("list
    indices must be integers", "'NoneType' object is not subscriptable")."""
    import shutil

    folders, run = a_run(saved, tmp_path)
    outside = shutil.copytree(saved, tmp_path / "outside")  # a loadable checkpoint elsewhere
    if latest == {"path": "OUTSIDE"}:
        latest = {"path": str(outside)}
    (run / "checkpoints" / "latest.json").write_text(json.dumps(latest))
    with pytest.raises(ckpt.CheckpointError, match=says):
        ckpt.resolve_checkpoint(run.name, folders)
    with pytest.raises(ckpt.CheckpointError, match=says):
        ckpt.resolve_checkpoint(run, folders.runs)  # the loop's way: a runs folder
    # the best checkpoint (Generate, the Tokenizer, every model field) does not read it
    assert ckpt.resolve_checkpoint(run.name, folders, prefer="best") == run / "checkpoints" / "best"


def test_latest_json_naming_a_step_of_the_run_is_followed(saved, tmp_path):
    folders, run = a_run(saved, tmp_path)
    assert ckpt.resolve_checkpoint(run.name, folders) == run / "checkpoints" / "step-000001"


@pytest.mark.parametrize(
    "name, says",
    [
        ("", "no model given"),
        ("   ", "no model given"),
        ("~no-such-user-f2/ckpt", "no such folder"),
        ("a" * 300, "not a usable folder name"),
        ("a/" * 3000, "not a usable folder name"),
    ],
)
def test_a_name_that_is_empty_or_no_file_system_takes_is_one_line(tmp_path, name, says):
    """An empty field is not the current folder; ``~user`` of no such user and names too
    long for a path are bad input, not a RuntimeError or OSError."""
    from studio.api import Folders

    folders = Folders(tmp_path / "ws")
    with pytest.raises(ckpt.CheckpointError, match=says) as caught:
        ckpt.resolve_checkpoint(name, folders, prefer="best")
    assert len(str(caught.value)) < 400 and "\n" not in str(caught.value)


def test_a_pickle_in_a_runs_best_checkpoint_gets_the_pickle_warning(saved, tmp_path, monkeypatch):
    import pickle

    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("unpickled"))
    folders, run = a_run(saved, tmp_path)
    for folder in (run / "checkpoints" / "best", run / "checkpoints" / "step-000001"):
        (folder / "model.safetensors").unlink()
        torch.save({}, folder / "pytorch_model.bin")
    (run / "checkpoints" / "latest.json").unlink()
    for ref in (run.name, run):
        with pytest.raises(ckpt.CheckpointError, match=r"best/pytorch_model\.bin is a PyTorch pickle"):
            ckpt.resolve_checkpoint(ref, folders, prefer="best")


def test_tokenize_uses_the_best_checkpoint_as_generate_does(saved, tmp_path, make_studio, capsys):
    from studio.testing import run_cli

    make_studio(workspace=tmp_path / "ws")
    folders, run = a_run(saved, tmp_path)
    CharTokenizer(list("hi")).save(run / "checkpoints" / "step-000001" / "tokenizer.json")  # latest.json's
    assert run_cli(["-w", folders.workspace, "trainer", "tokenize", run.name, "hi"]) == 0
    best = CharTokenizer(list("abcdefghijklmnopqrs"))
    assert f"vocabulary {best.vocab_size})" in capsys.readouterr().out


def test_a_job_naming_no_checkpoint_is_refused_before_its_run_folder(tmp_path, make_studio, capsys):
    import studio_trainer.hooks
    from studio.testing import run_cli

    studio = make_studio(("trainer", studio_trainer.hooks), workspace=tmp_path / "ws")
    workspace = studio.workspace.root
    for setting, says in (
        ("checkpoint=", "checkpoint: no model given"),
        ("checkpoint=nosuch", "checkpoint: no checkpoint, run folder or run id 'nosuch'"),
    ):
        assert run_cli(["-w", workspace, "jobs", "run", "trainer.generate", "--set", setting]) == 2
        assert says in capsys.readouterr().err
    assert run_cli(["-w", workspace, "jobs", "run", "trainer.train", "--set", "resume=nosuch"]) == 2
    assert "resume: no checkpoint, run folder or run id 'nosuch'" in capsys.readouterr().err
    assert not list((workspace / "runs").glob("*"))  # no run folder was made
    # a form validating what is being typed never looks at the disk (no submit context)
    assert GenerateParams.model_validate({"checkpoint": "nosuch"}).checkpoint == "nosuch"
    assert TrainParams.model_validate({"resume": "nosuch"}).resume == "nosuch"
    # and what such a form hands over (Run job…: its params object) is checked at submit all the same
    from studio.api import JobError

    with pytest.raises(JobError, match="checkpoint: no checkpoint, run folder or run id 'nosuch'"):
        studio.jobs.validate("trainer.generate", GenerateParams.model_validate({"checkpoint": "nosuch"}))
