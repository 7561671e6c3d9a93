"""Validation loss of the trainer's reference workload under setting changes (seeds, bias, …).

Each argument is a JSON object of TrainParams overrides (``model`` merged into the model
settings); runs in-process, one after another, validating once at the end on 200 batches.

    .venv/bin/python benchmarks/trainer_sweep.py --threads 1 '{"seed": 1}' '{"model": {"bias": true}, "seed": 1}'
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from trainer import DEFAULT_DATA, reference_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("overrides", nargs="+")
    args = parser.parse_args()
    import torch

    from studio.testing import RecordingContext
    from studio_trainer.config import TrainParams
    from studio_trainer.train.loop import train

    if args.threads:
        torch.set_num_threads(args.threads)
    for spec in args.overrides:
        override = json.loads(spec)
        params = reference_params(args.data, 2000)
        params["model"].update(override.pop("model", {}))
        params.update(override)
        params.update({"eval_interval": 2000, "sample_interval": 0, "checkpoint_interval": 2000})
        started = time.time()
        result = train(TrainParams.model_validate(params), RecordingContext(Path(tempfile.mkdtemp()) / "run"))
        print(f"{spec}  val loss {result['val_loss']:.4f}  ({time.time() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
