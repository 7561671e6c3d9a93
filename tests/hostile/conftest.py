"""The hostile-input suite: every command a user (or an attacker) can drive, fed bad
input and faults. The contract checked everywhere: a command either succeeds, or exits 2
with one ``error: …`` line on stderr; no traceback ever reaches the terminal, and nothing
the user made is lost. Every test builds its own inputs.

Commands run as real subprocesses (``python -m studio.cli``) so that what is checked is
what a terminal shows, exit codes and all, on an isolated studio home and workspace.
Runs of refused input (each a fraction of a second of work after ~0.5 s of start-up) go
through ``cli.batch``: one process runs them one after another, each with the process's
own stdout and stderr files and a fresh plugin host, so the start-up is paid once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class CliResult:
    args: tuple
    code: int
    out: str
    err: str

    def __str__(self) -> str:  # shown when an assertion fails
        command = " ".join(map(str, self.args))
        return f"tensor-studio {command} -> {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


class Cli:
    """Runs ``tensor-studio`` on one isolated home and workspace."""

    def __init__(self, home: Path, workspace: Path):
        self.home = home
        self.workspace = workspace
        self.env = {
            **os.environ,
            "TENSOR_STUDIO_HOME": str(home),
            "QT_QPA_PLATFORM": "offscreen",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        self.env.pop("TENSOR_STUDIO_WORKSPACE", None)
        self.env.pop("COLUMNS", None)

    def __call__(
        self, *args, timeout: float = 120, stdin: bytes | None = None, env: dict | None = None, workspace: bool = True
    ) -> CliResult:
        argv = [sys.executable, "-m", "studio.cli"]
        if workspace:
            argv += ["--workspace", str(self.workspace)]
        argv += [a if isinstance(a, bytes) else str(a) for a in args]
        proc = subprocess.run(
            argv, capture_output=True, timeout=timeout, input=stdin or b"", env={**self.env, **(env or {})}
        )
        return CliResult(
            args, proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
        )

    def batch(
        self, *commands: tuple, timeout: float = 120, env: dict | None = None, wrapper: tuple = ()
    ) -> list[CliResult]:
        """Run each command (a tuple of arguments, as for a call) in one process, in order:
        what each wrote to stdout and stderr (file descriptors 1 and 2, so workers' output
        too) and its exit code, as separate runs would give. Settings, environment and
        the plugin host are reset before each; modules stay imported (a command whose
        check is an import must not be batched). ``wrapper``: a command line the process
        runs under (``setpriv …``)."""
        with tempfile.TemporaryDirectory(prefix="cli-batch-") as folder:
            plan = Path(folder) / "plan.json"
            if any(not isinstance(args, tuple) for args in commands):
                raise TypeError("each command is a tuple of arguments")
            argvs = [[os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args] for args in commands]
            prefix = ["--workspace", str(self.workspace)]
            plan.write_text(json.dumps({"folder": folder, "argvs": [prefix + argv for argv in argvs]}))
            proc = subprocess.run(
                [*wrapper, sys.executable, "-c", BATCH_DRIVER, str(plan)],
                capture_output=True,
                timeout=timeout,
                env={**self.env, **(env or {})},
            )
            assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
            codes = json.loads((Path(folder) / "codes.json").read_text())
            assert len(codes) == len(commands), proc.stderr.decode("utf-8", "replace")
            return [
                CliResult(
                    args,
                    code,
                    (Path(folder) / f"{i}.out").read_bytes().decode("utf-8", "replace"),
                    (Path(folder) / f"{i}.err").read_bytes().decode("utf-8", "replace"),
                )
                for i, (args, code) in enumerate(zip(commands, codes, strict=True))
            ]

    def popen(self, *args, **kwargs) -> subprocess.Popen:
        argv = [sys.executable, "-m", "studio.cli", "--workspace", str(self.workspace), *map(str, args)]
        return subprocess.Popen(argv, env=self.env, **kwargs)


# ``python -c`` for Cli.batch: runs each argv through studio.cli.main with fds 1 and 2 on
# files of their own, as `python -m studio.cli ARGV` would (exit code = main's return).
BATCH_DRIVER = r"""
import json, os, sys, traceback
from pathlib import Path

from studio.cli import main
from studio.core.plugins import reset_process_host

plan = json.loads(Path(sys.argv[1]).read_text())
folder, codes, environ = Path(plan["folder"]), [], dict(os.environ)
for i, argv in enumerate(plan["argvs"]):
    os.environ.clear()
    os.environ.update(environ)
    reset_process_host()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(folder / f"{i}.out", "wb") as out, open(folder / f"{i}.err", "wb") as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
    os.close(saved[0])
    os.close(saved[1])
    codes.append(code)
(folder / "codes.json").write_text(json.dumps(codes))
"""


@pytest.fixture
def cli(tmp_path) -> Cli:
    home, workspace = tmp_path / "home", tmp_path / "workspace"
    from studio.core.workspace import Workspace

    Workspace.create(workspace)  # as the first start of the studio makes it
    return Cli(home, workspace)


def no_traceback(result: CliResult) -> None:
    text = result.out + result.err
    assert "Traceback (most recent call last)" not in text, result
    assert "pydantic_core" not in text and "For further information visit" not in text, result


def expect_ok(result: CliResult) -> CliResult:
    assert result.code == 0, result
    no_traceback(result)
    return result


def expect_refused(result: CliResult, *fragments: str) -> CliResult:
    """Exit 2 with one ``error:`` line that names the problem (each fragment, any case)."""
    assert result.code == 2, result
    no_traceback(result)
    errors = [line for line in result.err.splitlines() if line.strip()]
    assert errors and errors[-1].startswith("error: "), result
    assert sum(line.startswith("error") for line in errors) == 1, result
    assert len(errors[-1]) < 600, result  # one readable line, not a dump
    for fragment in fragments:
        assert fragment.lower() in errors[-1].lower(), result
    return result


def expect_all_refused(cli: Cli, *cases: tuple, timeout: float = 120, env: dict | None = None) -> list[CliResult]:
    """Each case ``(arguments, *fragments)`` refused as ``expect_refused`` checks, the
    commands run by one process (``cli.batch``), in order."""
    results = cli.batch(*[case[0] for case in cases], timeout=timeout, env=env)
    return [expect_refused(result, *case[1:]) for result, case in zip(results, cases, strict=True)]


def expect_failed(result: CliResult, *fragments: str) -> CliResult:
    """Exit 1 (the job or some examples failed), with the reason and no traceback."""
    assert result.code == 1, result
    no_traceback(result)
    for fragment in fragments:
        assert fragment.lower() in (result.out + result.err).lower(), result
    return result


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(megabytes)``: a fresh tmpfs of that size, unmounted after the test.
    Needs mount rights (root, as in CI); the test is skipped where there are none."""
    mounts = []

    def mount(megabytes: int) -> Path:
        folder = tmp_path / f"small-disk-{len(mounts)}"
        folder.mkdir()
        if (
            shutil.which("mount") is None
            or subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(folder)], capture_output=True
            ).returncode
        ):
            pytest.skip("cannot mount a small tmpfs here (needs root)")
        mounts.append(folder)
        return folder

    yield mount
    for folder in mounts:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide studio checkpoint with random weights, made in-process once.
    Tests that damage it copy it first."""
    import torch

    from studio_trainer.config import ModelConfig
    from studio_trainer.data.tokenizer import CharTokenizer
    from studio_trainer.model.gpt import GPT
    from studio_trainer.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    config = ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=28)
    return save_checkpoint(
        tmp_path_factory.mktemp("model") / "ckpt",
        GPT(config),
        CharTokenizer(list(" abcdefghijklmnopqrstuvwxyz")),
        step=1,
        val_loss=None,
    )
