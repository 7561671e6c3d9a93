"""Training runs that stopped before their last step — cancelled, interrupted, failed — and
can be resumed from their latest checkpoint. Reads only the checkpoints' JSON (no torch),
so the Trainer panel can list them at once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from studio.api import StudioFileError, read_json

from .checkpoint_folders import checkpoints_dir


@dataclass(frozen=True)
class ResumableRun:
    run_id: str
    step: int
    max_steps: int

    def describe(self) -> str:
        return f"{self.run_id} — step {self.step:,} of {self.max_steps:,}"


def resumable_runs(runs_dir: Path, limit: int = 10) -> list[ResumableRun]:
    """The runs in ``runs_dir`` (``ctx.folders.runs``), newest first. A run that a later
    run already resumed is left out (that run, if it stopped early too, is listed
    instead); unreadable checkpoints are skipped."""
    found: list[ResumableRun] = []
    resumed: set[str] = set()
    runs = Path(runs_dir)
    for run_dir in sorted(runs.iterdir() if runs.is_dir() else [], reverse=True):  # run ids start with the time
        latest = checkpoints_dir(run_dir) / "latest.json"
        if not latest.is_file():
            continue
        try:
            meta = read_json(latest.parent / read_json(latest)["path"] / "train_state.json")
            step, params = int(meta["step"]), meta["params"]
            max_steps = int(params["max_steps"])
        except (StudioFileError, KeyError, TypeError, ValueError):
            continue
        if params.get("resume"):
            resumed.update(Path(str(params["resume"])).parts)  # a run id, run folder or checkpoint folder
        if step < max_steps:
            found.append(ResumableRun(run_dir.name, step, max_steps))
    return [run for run in found if run.run_id not in resumed][:limit]
