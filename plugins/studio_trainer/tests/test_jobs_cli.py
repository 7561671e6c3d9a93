"""The trainer through the studio: job kinds in worker processes, resume after SIGKILL, the
CLI, generation, and the local LLM provider."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import psutil
import pytest
import torch
from safetensors.torch import load_file

import studio_trainer.hooks as trainer_hooks
from studio.api import Artifact, JobError, RunStatus, Span

from .helpers import curve, tiny


def _workers() -> list[psutil.Process]:
    workers = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(p.cmdline()):
                workers.append(p)
        except psutil.Error:  # gone, or a zombie another test left to be reaped
            pass
    return workers


def test_resume_after_the_worker_is_killed_continues_the_curve_exactly(make_studio, corpus):
    studio = make_studio(("trainer", trainer_hooks))
    params = tiny(corpus, max_steps=30, checkpoint_interval=5, log_interval=5, model={"dropout": 0.1})

    async def run_to_end(p):
        job = studio.jobs.submit("trainer.train", p)
        await studio.jobs.wait(job)
        return job

    straight = asyncio.run(run_to_end(params))
    assert straight.status == RunStatus.SUCCEEDED, straight.error

    async def kill_after_checkpoint():
        job = studio.jobs.submit("trainer.train", params)
        seen = asyncio.Event()

        def on_events(run_id, batch):
            if run_id == job.id and any(isinstance(e, Artifact) and e.path.endswith("step-000015") for e in batch):
                seen.set()

        unsubscribe = studio.bus.subscribe(on_events, (Artifact,))
        await asyncio.wait_for(seen.wait(), 60)
        for worker in _workers():
            worker.send_signal(signal.SIGKILL)
        await studio.jobs.wait(job)
        unsubscribe()
        return job

    killed = asyncio.run(kill_after_checkpoint())
    assert killed.status == RunStatus.FAILED and "SIGKILL" in killed.error
    latest = json.loads((killed.run.dir / "checkpoints" / "latest.json").read_text())
    assert 15 <= latest["step"] < 30
    resumed = asyncio.run(run_to_end({"resume": killed.id}))
    assert resumed.status == RunStatus.SUCCEEDED, resumed.error
    a = load_file(str(straight.run.dir / "checkpoints" / "step-000030" / "model.safetensors"))
    b = load_file(str(resumed.run.dir / "checkpoints" / "step-000030" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # one continuous curve, equal to the uninterrupted run's
    assert curve(resumed.run.events()) == curve(straight.run.events())


def test_generate_job_and_a_bad_checkpoint(make_studio, run_job, corpus):
    studio = make_studio(("trainer", trainer_hooks))
    trained = run_job(studio, "trainer.train", tiny(corpus))
    asked = {"checkpoint": trained.id, "prompt": "First", "max_new_tokens": 20, "seed": 3}
    job = run_job(studio, "trainer.generate", asked)
    assert job.status == RunStatus.SUCCEEDED, job.error
    assert len(job.result["text"]) > 0
    spans = [e for e in job.run.events() if isinstance(e, Span)]
    assert spans[0].span_kind == "sample" and spans[0].outputs["text"] == job.result["text"]
    again = run_job(studio, "trainer.generate", asked)
    assert again.result["text"] == job.result["text"]  # a seed makes it repeatable
    with pytest.raises(JobError, match="checkpoint: no checkpoint, run folder or run id 'no-such-run'"):
        run_job(studio, "trainer.generate", {"checkpoint": "no-such-run"})  # refused before a run folder


def cli(*args, env, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "studio.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_cli_trains_generates_tokenizes_and_summarises(studio_home, corpus):
    env = {**os.environ, "TENSOR_STUDIO_HOME": str(studio_home)}
    params = studio_home.parent / "params.json"
    params.write_text(json.dumps(tiny(corpus)))
    out = cli(
        "jobs",
        "run",
        "trainer.train",
        "--params",
        str(params),
        "--set",
        "max_steps=10",
        "--set",
        "model.n_layer=1",
        "-q",
        env=env,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip().startswith("{") else None
    runs = cli("runs", "list", "--json", env=env)
    run_id = json.loads(runs.stdout)[0]["id"]
    assert result is None or result["steps"] == 10
    shown = json.loads(cli("runs", "show", run_id, "--json", env=env).stdout)["params"]
    assert shown["model"]["n_layer"] == 1 and shown["model"]["n_embd"] == 32  # one setting changed, the file's kept
    typo = cli("jobs", "run", "trainer.train", "--set", "model.n_layr=1", env=env, check=False)
    assert typo.returncode == 2 and "--set model.n_layr: trainer.train has no such setting" in typo.stderr
    assert "n_layer, n_head" in typo.stderr  # the model group's own settings, where the typo is
    gen = cli("trainer", "generate", run_id, "--prompt", "All:", "--max-new-tokens", "15", "--seed", "1", env=env)
    assert gen.stdout.startswith("All:") and len(gen.stdout) > len("All:") + 5
    tok = cli("trainer", "tokenize", run_id, "Speak, speak.", env=env)
    assert "13 tokens for 13 characters (char" in tok.stdout
    summary = cli("trainer", "summary", "--set", "n_layer=2", "--set", "attention=xcorr", "--json", env=env)
    assert json.loads(summary.stdout)["total_params"] > 0
    bad = cli("trainer", "summary", "--set", "n_embd=30", env=env, check=False)
    assert bad.returncode == 2 and "multiple of n_head" in bad.stderr and "Traceback" not in bad.stderr
    missing = json.dumps({"corpus": str(corpus.parent / "missing.txt")})
    failed = cli("jobs", "run", "trainer.train", "--set", f"data={missing}", "-q", env=env, check=False)
    assert failed.returncode == 1 and "does not exist" in failed.stderr


def test_local_provider_answers_like_a_chat_model(make_studio, run_job, corpus):
    from studio_trainer.provider import complete

    studio = make_studio(("trainer", trainer_hooks))
    trained = run_job(studio, "trainer.train", tiny(corpus))
    prefixes = {provider.prefix for provider in studio.host.llm_providers().values()}
    assert prefixes == {"studio/", "hf/"}  # the trainer's checkpoints, and Hugging Face folders
    # a run id names a run of the active workspace (the studio's)
    reply = complete(f"studio/{trained.id}", [{"role": "user", "content": "First Citizen:"}], max_tokens=12, seed=0)
    assert reply["choices"][0]["message"]["role"] == "assistant"
    assert reply["usage"]["prompt_tokens"] == len("First Citizen:\n")
    assert 0 < reply["usage"]["completion_tokens"] <= 12
    stopped = complete(
        f"studio/{trained.run.dir}",
        [{"role": "user", "content": "First Citizen:"}],
        max_tokens=30,
        seed=0,
        stop=[reply["choices"][0]["message"]["content"][2:4]],
    )
    assert stopped["choices"][0]["finish_reason"] == "stop"
    with pytest.raises(Exception, match="no checkpoint"):
        complete("studio/nothing-here", [{"role": "user", "content": "hi"}])
