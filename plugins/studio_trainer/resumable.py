"""Training runs that stopped before their last step — cancelled, interrupted, failed — and
can be resumed from their latest checkpoint. Reads only the checkpoints' JSON (no torch),
so the Trainer panel can list them at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.api import StudioFileError, read_json


@dataclass(frozen=True)
class ResumableRun:
    run_id: str
    step: int
    max_steps: int

    def describe(self) -> str:
        return f"{self.run_id} — step {self.step:,} of {self.max_steps:,}"


def resumable_runs(runs_dir: Path, limit: int = 10) -> list[ResumableRun]:
    """Newest first. A run that a later run already resumed is left out (that run, if it
    stopped early too, is listed instead); unreadable checkpoints are skipped."""
    found, resumed = [], set()
    for latest in sorted(Path(runs_dir).glob("*/checkpoints/latest.json"), reverse=True):
        try:
            meta = read_json(latest.parent / read_json(latest)["path"] / "train_state.json")
            step, params = int(meta["step"]), meta["params"]
            max_steps = int(params["max_steps"])
        except (StudioFileError, KeyError, TypeError, ValueError):
            continue
        if params.get("resume"):
            resumed.update(Path(str(params["resume"])).parts)  # a run id, run folder or checkpoint folder
        run_id = latest.parent.parent.name
        if step < max_steps:
            found.append(ResumableRun(run_id, step, max_steps))
    return [run for run in found if run.run_id not in resumed][:limit]
