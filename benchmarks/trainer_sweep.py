"""Validation loss of the trainer's reference workload under setting changes, over seeds.

Each argument is a JSON object of TrainParams overrides (``model`` merged into the model
settings) on top of the reference workload; every setting runs once per seed, each run in
its own process (``--jobs`` at a time), validating once at the end on 200 batches. Prints
each run and then the mean and spread per setting.

    .venv/bin/python benchmarks/trainer_sweep.py --seeds 1337,1,2 --jobs 2 '{}' '{"model": {"bias": true}}'
    python benchmarks/trainer_sweep.py --device cuda --jobs 16 --seeds 1337,1,2,3 '{}' '{"beta1": 0.8}'
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from trainer import DEFAULT_DATA, in_subprocess, reference_params


def one_run(spec: str, seed: int, device: str, threads: int, data: Path) -> float:
    import torch

    from studio.testing import RecordingContext
    from studio_trainer.config import TrainParams
    from studio_trainer.train.loop import train

    torch.set_num_threads(threads)
    override = json.loads(spec)
    params = reference_params(data, 2000)
    params["model"].update(override.pop("model", {}))
    params.update(override)
    params.update(
        {"seed": seed, "device": device, "eval_interval": 2000, "sample_interval": 0, "checkpoint_interval": 2000}
    )
    result = train(TrainParams.model_validate(params), RecordingContext(Path(tempfile.mkdtemp()) / "run"))
    return result["val_loss"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1337", help="comma-separated seeds")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--one", nargs=2, metavar=("SPEC", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.one:
        print(one_run(args.one[0], int(args.one[1]), args.device, args.threads, args.data))
        return

    def launch(job: tuple[str, int]) -> tuple[str, int, float]:
        spec, seed = job
        started = time.time()
        loss = float(
            in_subprocess(
                __file__,
                [
                    "--one",
                    spec,
                    str(seed),
                    "--device",
                    args.device,
                    "--threads",
                    str(args.threads),
                    "--data",
                    str(args.data),
                ],
                f"{spec} seed {seed}",
            )
        )
        print(f"{spec}  seed {seed}  val loss {loss:.4f}  ({time.time() - started:.0f} s)", flush=True)
        return spec, seed, loss

    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(spec, seed) for spec in args.overrides for seed in seeds]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(launch, jobs))
    print(f"\n{'setting':<60} {'mean':>7} {'min':>7} {'max':>7}  seeds {args.seeds}")
    for spec in args.overrides:
        losses = [loss for s, _, loss in results if s == spec]
        print(f"{spec:<60} {statistics.mean(losses):>7.4f} {min(losses):>7.4f} {max(losses):>7.4f}")


if __name__ == "__main__":
    main()
