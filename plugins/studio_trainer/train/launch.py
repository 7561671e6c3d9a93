"""Start a data-parallel run from a studio job (``processes`` > 1) — no torchrun needed —
or join the process group torchrun started (several GPUs or machines; ``join_torchrun``).

The job's own worker becomes rank 0: it starts ranks 1…N-1 as child processes, and all
join one process group (gloo on the CPU, NCCL on CUDA, rank r on GPU r). Rank 0 reports to
the studio as any job does; the other ranks report nothing (a :class:`QuietContext`).
Every rank then runs the same ``train``, which sees the group and trains data-parallel
(``distributed.py``). Nothing is left behind: a child whose parent dies exits, and a child
that fails takes rank 0 down with its error in rank 0's log (the others would otherwise
wait in an all-reduce for ever).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from studio.api import Folders, JobCancelled

TORCHRUN = "TENSOR_STUDIO_TORCHRUN"  # set by `tensor-studio trainer torchrun`: train() joins torchrun's group
FAILURE_GRACE_S = 3.0  # rank 0 may be failing for the same reason: let it report first
CHILD_EXIT_S = 10.0
PLUGIN_ID = "trainer"  # the plugin's entry-point name, for a torchrun rank (no job context to ask)


class QuietContext:
    """The JobContext of ranks above 0: they log and save nothing (rank 0 does), and are
    cancelled with rank 0 through the loop's collective check. ``workspace``: rank 0's,
    where they read what a run starts from (a checkpoint to resume or fine-tune)."""

    def __init__(self, run_id: str, run_dir: Path, rank: int, workspace: Path, plugin_id: str = PLUGIN_ID):
        self.run_id, self.run_dir, self.rank = run_id, Path(run_dir), rank
        self.folders = Folders(Path(workspace))
        self.plugin_id = plugin_id
        self.cancelled = False

    @property
    def data_dir(self) -> Path:
        return self.folders.plugin_dir(self.plugin_id)

    def progress(self, *args: Any, **kwargs: Any) -> None: ...
    def metric(self, *args: Any, **kwargs: Any) -> None: ...
    def log(self, *args: Any, **kwargs: Any) -> None: ...
    def artifact(self, *args: Any, **kwargs: Any) -> None: ...
    def span(self, **fields: Any) -> None: ...

    def check_cancelled(self) -> None:
        pass


def data_parallel(params, ctx, train: Callable) -> Any:
    """Run ``train(params, ctx)`` as rank 0 of ``params.processes`` processes."""
    world = params.processes
    device = _device(params.device, world)
    address = f"tcp://127.0.0.1:{_free_port()}"
    spawn = multiprocessing.get_context("spawn")
    errors = spawn.SimpleQueue()
    asked = {**params.model_dump(mode="json", exclude_unset=True), "processes": world}  # unset stays unset:
    # a resumed run takes the saved settings for what was not asked, on every rank alike
    children = [
        spawn.Process(
            target=_rank_main,
            args=(
                rank,
                world,
                address,
                asked,
                ctx.run_id,
                str(ctx.run_dir),
                str(ctx.folders.workspace),
                ctx.plugin_id,
                errors,
            ),
            name=f"trainer-rank-{rank}",
        )
        for rank in range(1, world)
    ]
    for child in children:
        child.start()
    running = threading.Event()
    running.set()
    threading.Thread(
        target=watch_ranks,
        args=(children, errors, running, lambda text: _fail(ctx, text)),
        name="trainer-rank-watch",
        daemon=True,
    ).start()
    ctx.log(f"data-parallel: {world} processes on {device} ({_backend(device)})")
    try:
        _join(0, world, device, address)
        return train(params, ctx)
    finally:
        running.clear()
        for child in children:  # they leave right after the last collective (or wait in one, if rank 0 failed alone)
            child.join(timeout=CHILD_EXIT_S)
        if dist.is_initialized():
            dist.destroy_process_group()  # with the others gone: a quiet teardown
        for child in children:
            child.join(timeout=CHILD_EXIT_S)
            if child.is_alive():
                child.kill()


def watch_ranks(children, errors, running: threading.Event, fail: Callable[[str], None]) -> None:
    """Wait for the child ranks; the first that fails while the run goes on ends it."""
    pending = list(children)
    while pending:
        ended = multiprocessing.connection.wait([child.sentinel for child in pending])
        for child in [c for c in pending if c.sentinel in ended]:
            pending.remove(child)
            child.join()
            if child.exitcode != 0 and running.is_set():
                text = errors.get() if not errors.empty() else f"exited with code {child.exitcode}"
                time.sleep(FAILURE_GRACE_S)
                if running.is_set():
                    fail(f"{child.name} failed: {text}")
                return


def _fail(ctx, text: str) -> None:
    ctx.log(text, level="error")
    flush = getattr(ctx, "flush", None)
    if callable(flush):
        flush()
    os._exit(1)  # the main thread is inside a collective that will never complete


def _rank_main(
    rank: int, world: int, address: str, params: dict, run_id: str, run_dir: str, workspace: str, plugin_id: str, errors
) -> None:
    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    from ..config import TrainParams
    from .loop import train

    code = 0
    try:
        p = TrainParams.model_validate(params)
        _join(rank, world, _device(p.device, world), address)
        train(p, QuietContext(run_id, Path(run_dir), rank, Path(workspace), plugin_id))
    except JobCancelled:
        pass
    except BaseException as exc:  # reported to rank 0, which reports it to the user
        errors.put(f"{type(exc).__name__}: {exc}\n{''.join(traceback.format_exception(exc))[-2000:]}")
        code = 1
    # Leave at once: this rank has nothing left to write, and tearing a gloo group down
    # while the other ranks close theirs can abort a finished process (seen once in CI).
    os._exit(code)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(3)


def _device(choice: str, world: int) -> str:
    from .device import pick_device

    device = pick_device(choice)
    if device == "cuda" and torch.cuda.device_count() < world:
        raise ValueError(
            f"{world} data-parallel processes need {world} CUDA GPUs; this machine has {torch.cuda.device_count()}"
        )
    if device == "mps":
        raise ValueError("data-parallel processes need CUDA GPUs or the CPU, not MPS")
    return device


def _backend(device: str) -> str:
    return "nccl" if device == "cuda" else "gloo"


def _join(rank: int, world: int, device: str, address: str) -> None:
    _use_device(device, rank, world)
    dist.init_process_group(_backend(device), init_method=address, rank=rank, world_size=world)


def launched_by_torchrun() -> bool:
    return os.environ.get(TORCHRUN) == "1" and not dist.is_initialized()


def join_torchrun(choice: str, rank: int) -> int:
    """Join the process group torchrun set up for this process: its rank, the group's size
    and the rendezvous come from the environment torchrun gives each process (``RANK``,
    ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``). Process k of a
    machine takes its GPU k. Returns the number of processes."""
    if int(os.environ.get("RANK", -1)) != rank:
        raise ValueError(f"this process is rank {rank}, but torchrun gave it RANK={os.environ.get('RANK')}")
    local, per_machine = int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    from .device import pick_device

    device = pick_device(choice)
    if device == "mps":
        raise ValueError("data-parallel processes need CUDA GPUs or the CPU, not MPS")
    if device == "cuda" and torch.cuda.device_count() <= local:
        raise ValueError(
            f"torchrun started {per_machine} processes on this machine, but it has "
            f"{torch.cuda.device_count()} CUDA GPUs (process {local} has none)"
        )
    _use_device(device, local, per_machine)
    dist.init_process_group(_backend(device), init_method="env://")
    return dist.get_world_size()


def _use_device(device: str, local_rank: int, per_machine: int) -> None:
    if device == "cuda":
        torch.cuda.set_device(local_rank)
    else:  # the processes of one machine share its cores
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // per_machine))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
