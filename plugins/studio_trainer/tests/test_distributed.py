"""The loop launched data-parallel: two CPU processes in a gloo process group, started
here, by torchrun (``tensor-studio trainer torchrun``), or by a job with ``processes: 2``.
Only rank 0 logs and saves; gradients are averaged, so both ranks hold the same weights
while each draws its own batches; a cancel stops both at one step; a resumed run
continues exactly."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file

import studio_trainer.hooks as trainer_hooks
from studio.api import Folders, JobCancelled, Log, RunStatus, read_events, read_json
from studio.testing import RecordingContext
from studio_trainer.config import TrainParams
from studio_trainer.train import loop

from .helpers import curve, loss_at, tiny

pytestmark = pytest.mark.skipif(
    not dist.is_available() or not dist.is_gloo_available(), reason="this torch build has no gloo process groups"
)


def _rank_main(rank: int, world: int, rendezvous: str, params: dict, run_dir: str, out: str) -> None:
    """One process of the group: trains, and records what this rank saw and held; then
    leaves without tearing the group down, as the studio's own ranks do (launch.py)."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    code = 0
    try:
        held: dict[Any, Any] = {}  # step -> weights, and "batches" -> data positions
        save = loop.save

        def recording_save(s, ctx, step, *args, **kwargs):
            held[step] = {k: v.clone() for k, v in s.model.state_dict().items()}
            held.setdefault("batches", []).append(s.train_batches.state()["generator"].clone())
            return save(s, ctx, step, *args, **kwargs)

        loop.save = recording_save
        ctx = RecordingContext(Path(run_dir), rank=rank)
        try:
            loop.train(TrainParams.model_validate(params.get(f"rank{rank}", params)), ctx)
        except loop.TrainingError as exc:
            torch.save({"error": str(exc)}, Path(out) / f"rank{rank}.pt")
        else:
            torch.save({"held": held, "events": ctx.events}, Path(out) / f"rank{rank}.pt")
    except BaseException:
        traceback.print_exc()
        code = 1
    os._exit(code)


def launch(tmp_path: Path, name: str, params: dict, world: int = 2) -> list[dict]:
    """Start ``world`` processes, wait for them, return what each recorded (params may hold
    a ``rank<N>`` entry: that rank's own params)."""
    spawn = multiprocessing.get_context("spawn")
    out = tmp_path / f"{name}-out"
    out.mkdir()
    rendezvous = tmp_path / f"{name}-rendezvous"
    run_dir = Folders(tmp_path).run_dir(name)
    procs = [
        spawn.Process(target=_rank_main, args=(r, world, str(rendezvous), params, str(run_dir), str(out)))
        for r in range(world)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
        if proc.is_alive():
            proc.kill()
    assert [proc.exitcode for proc in procs] == [0] * world, "a rank failed (its traceback is above)"
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(world)]


def test_two_ranks_train_one_model_and_only_rank_zero_logs_and_saves(tmp_path, corpus):
    params = tiny(
        corpus,
        max_steps=8,
        log_interval=4,
        eval_interval=4,
        checkpoint_interval=4,
        grad_accum=2,
        model={"dropout": 0.1},
    )
    zero, one = launch(tmp_path, "run", params)
    assert one["events"] == []  # rank 1 neither logs nor emits metrics
    assert [s for s, _ in curve(zero["events"])] == [4, 8]
    for step in (4, 8):
        assert all(torch.equal(zero["held"][step][k], one["held"][step][k]) for k in zero["held"][step])
    # each rank drew its own batches
    assert not torch.equal(zero["held"]["batches"][0], one["held"]["batches"][0])
    folder = Folders(tmp_path).run_dir("run") / "checkpoints"
    assert json.loads((folder / "latest.json").read_text()) == {"path": "step-000008", "step": 8}
    saved = load_file(str(folder / "step-000008" / "model.safetensors"))
    assert all(torch.equal(saved[k], zero["held"][8][k]) for k in saved)
    state = load_file(str(folder / "step-000008" / "train_state.safetensors"))
    assert torch.equal(state["data.generator"], zero["held"]["batches"][1])
    assert torch.equal(state["rank1.data.generator"], one["held"]["batches"][1])


def test_a_two_rank_run_resumes_exactly_from_its_checkpoint(tmp_path, corpus):
    params = tiny(corpus, max_steps=8, log_interval=4, eval_interval=4, checkpoint_interval=4, model={"dropout": 0.1})
    straight, _ = launch(tmp_path, "straight", params)
    halfway = Folders(tmp_path).run_dir("straight") / "checkpoints" / "step-000004"
    resumed, resumed_one = launch(tmp_path, "resumed", {**params, "resume": str(halfway)})
    assert all(torch.equal(resumed["held"][8][k], straight["held"][8][k]) for k in straight["held"][8])
    assert resumed_one["events"] == []


def test_ranks_started_with_different_settings_refuse_to_train(tmp_path, corpus):
    params = tiny(corpus, max_steps=8, log_interval=4)
    zero, one = launch(tmp_path, "mixed", {**params, "rank1": {**params, "max_steps": 9}})
    assert "started with different settings" in zero["error"] and "started with different settings" in one["error"]


def test_a_job_with_two_processes_starts_its_second_rank_and_only_rank_zero_reports(make_studio, corpus):
    studio = make_studio(("trainer", trainer_hooks))
    params = tiny(corpus, max_steps=8, log_interval=4, eval_interval=4, checkpoint_interval=4, processes=2)

    async def go():
        job = studio.jobs.submit("trainer.train", params)
        await asyncio.wait_for(studio.jobs.wait(job), 180)
        return job

    job = asyncio.run(go())
    assert job.status == RunStatus.SUCCEEDED, job.error
    events = job.run.events()
    assert any("data-parallel: 2 processes on cpu (gloo)" in e.text for e in events if isinstance(e, Log))
    assert [s for s, _ in curve(events)] == [4, 8]
    latest = job.run.dir / "checkpoints" / "step-000008"
    assert "rank1.data.generator" in load_file(str(latest / "train_state.safetensors"))
    assert json.loads((latest / "train_state.json").read_text())["params"]["processes"] == 2


def test_a_cancel_stops_every_rank_at_one_step_and_the_run_resumes_exactly(job_context, corpus):
    params = tiny(
        corpus,
        max_steps=12,
        log_interval=4,
        eval_interval=4,
        checkpoint_interval=4,
        processes=2,
        model={"dropout": 0.1},
    )
    straight = job_context("straight")
    loop.train(TrainParams.model_validate(params), straight)
    first = job_context("first")
    first.cancel_when(loss_at(4))
    with pytest.raises(JobCancelled):
        loop.train(TrainParams.model_validate(params), first)
    saved = first.run_dir / "checkpoints" / "step-000008"  # the next log step, on both ranks
    assert "rank1.data.generator" in load_file(str(saved / "train_state.safetensors"))
    resumed = job_context("resumed")
    loop.train(TrainParams.model_validate({"resume": "first"}), resumed)  # two processes again, from the checkpoint
    assert any("data-parallel: 2 processes" in e.text for e in resumed.of_kind(Log))
    a = load_file(str(straight.run_dir / "checkpoints" / "step-000012" / "model.safetensors"))
    b = load_file(str(resumed.run_dir / "checkpoints" / "step-000012" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_failing_rank_ends_the_run_with_its_error_unless_the_run_already_ended(monkeypatch):
    import threading
    import time

    from studio_trainer.train import launch as launcher

    monkeypatch.setattr(launcher, "FAILURE_GRACE_S", 0.0)
    spawn = multiprocessing.get_context("spawn")
    errors = spawn.SimpleQueue()
    errors.put("TrainingError: out of memory on rank 1")
    for still_running, expected in (
        (True, ["trainer-rank-1 failed: TrainingError: out of memory on rank 1"]),
        (False, []),
    ):
        # a rank still training (when the run goes on), and one that fails
        busy = spawn.Process(target=time.sleep, args=(30 if still_running else 0,), name="trainer-rank-2")
        child = spawn.Process(target=os._exit, args=(3,), name="trainer-rank-1")
        busy.start()
        child.start()
        running = threading.Event()
        if still_running:
            running.set()
        failures: list[str] = []
        launcher.watch_ranks([busy, child], errors, running, failures.append)
        assert failures == expected
        if still_running:
            assert busy.is_alive()  # the failure was noticed at once, not after the other rank ended
            busy.kill()
        busy.join()


def test_more_gpu_processes_than_gpus_are_refused_before_any_process_starts(job_context, corpus):
    import psutil

    before = psutil.Process().children()
    if torch.cuda.device_count() >= 2:
        pytest.skip("this machine has the GPUs")
    with pytest.raises(loop.TrainingError, match=r"sees no CUDA GPU|need 2 CUDA GPUs; this machine has 1"):
        loop.train(TrainParams.model_validate(tiny(corpus, processes=2, device="cuda")), job_context())
    assert psutil.Process().children() == before


@pytest.fixture
def workspace(make_studio, tmp_path) -> Folders:
    """A workspace of its own for a torchrun launch."""
    return Folders(make_studio(workspace=tmp_path / "workspace").workspace.root)


def _torchrun_command(tmp_path: Path, workspace: Folders, params: dict, *extra: str) -> tuple[list[str], dict]:
    """``torchrun --standalone --nproc-per-node 2 … tensor-studio trainer torchrun`` in ``workspace``."""
    (tmp_path / "params.json").write_text(json.dumps(params))
    env = {**os.environ, "TENSOR_STUDIO_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    return (
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "studio.cli",
            "--workspace",
            str(workspace.workspace),
            "trainer",
            "torchrun",
            "--params",
            str(tmp_path / "params.json"),
            "--quiet",
            *extra,
        ],
        env,
    )


def _torchrun(
    tmp_path: Path, workspace: Folders, params: dict, *extra: str, monitor_interval: float | None = None
) -> subprocess.CompletedProcess:
    """``monitor_interval``: how often torchrun looks at its workers. When one rank fails it
    stops the others at its next look, so a check that every rank failed on its own gives
    them time to (its default, 0.1 s, is shorter than one rank's start-up under load)."""
    command, env = _torchrun_command(tmp_path, workspace, params, *extra)
    if monitor_interval is not None:
        command[3:3] = ["--monitor-interval", str(monitor_interval)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)


def test_a_torchrun_launch_trains_one_studio_run_with_every_rank(tmp_path, workspace, corpus):
    params = tiny(corpus, max_steps=8, log_interval=4, eval_interval=4, checkpoint_interval=4)
    done = _torchrun(tmp_path, workspace, params)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = list(workspace.runs.glob("*"))
    assert len(runs) == 1, runs  # rank 0's run; rank 1 writes nothing
    assert read_json(runs[0] / "run.json")["status"] == RunStatus.SUCCEEDED
    logs = [e for e in read_events(runs[0]) if isinstance(e, Log)]
    assert any(e.text == "data-parallel: 2 processes started by torchrun" for e in logs)
    latest = runs[0] / "checkpoints" / "step-000008"
    assert "rank1.data.generator" in load_file(str(latest / "train_state.safetensors"))
    assert json.loads((latest / "train_state.json").read_text())["params"]["processes"] == 2


@pytest.mark.parametrize(
    "setting, message",
    [
        ("max_stepz=8", "--set max_stepz: trainer.train has no such setting"),
        ("max_steps=oops", "invalid parameters for trainer.train: max_steps:"),
    ],
)
def test_a_torchrun_launch_with_a_bad_setting_fails_on_every_rank_and_makes_no_run(
    tmp_path, workspace, corpus, setting, message
):
    done = _torchrun(tmp_path, workspace, tiny(corpus), "--set", setting, monitor_interval=8)
    assert done.returncode != 0
    assert done.stderr.count(message) == 2, done.stderr[-3000:]  # the same error from both ranks
    assert not list(workspace.runs.glob("*"))


def test_the_torchrun_command_outside_torchrun_says_how_to_start_it(tmp_path, corpus):
    (tmp_path / "params.json").write_text(json.dumps(tiny(corpus)))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    done = subprocess.run(
        [sys.executable, "-m", "studio.cli", "trainer", "torchrun", "--params", str(tmp_path / "params.json")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "TENSOR_STUDIO_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 2
    assert "start it with torchrun, e.g. torchrun --nproc-per-node 2" in done.stderr


def test_ctrl_c_on_a_torchrun_launch_cancels_every_rank_and_saves(tmp_path, workspace, corpus):
    import psutil

    params = tiny(corpus, max_steps=1_000_000, log_interval=5, eval_interval=10**6, checkpoint_interval=10**6)
    command, env = _torchrun_command(tmp_path, workspace, params)
    launcher = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )  # a terminal's Ctrl-C signals the whole group
    deadline = time.monotonic() + 120
    events = None
    while time.monotonic() < deadline and launcher.poll() is None:
        found = list(workspace.runs.glob("*/events.jsonl"))
        if found and '"train/loss"' in found[0].read_text():
            events = found[0]
            break
        time.sleep(0.2)
    assert events is not None, launcher.communicate(timeout=30)[1][-3000:]
    processes = psutil.Process(launcher.pid).children(recursive=True)
    os.killpg(launcher.pid, signal.SIGINT)
    _, err = launcher.communicate(timeout=120)
    run = events.parent
    assert read_json(run / "run.json")["status"] == RunStatus.CANCELLED, err[-3000:]
    saved = json.loads((run / "checkpoints" / "latest.json").read_text())
    assert 0 < saved["step"] < 1_000_000 and saved["step"] % 5 == 0  # every rank stopped at one log step
    state = load_file(str(run / "checkpoints" / f"step-{saved['step']:06d}" / "train_state.safetensors"))
    assert "rank1.data.generator" in state  # rank 1 took part until the end
    psutil.wait_procs(processes, timeout=30)
    assert not [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
