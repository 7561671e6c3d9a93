import random

import pytest

from studio.api import JobCancelled, Progress, RunStatus
from studio_diagnostics import hooks
from studio_diagnostics.config import StreamParams
from studio_diagnostics.curves import synthetic_value
from studio_diagnostics.jobs import stream


def test_synthetic_curves_have_training_shapes():
    rng = random.Random(0)
    losses = [synthetic_value("train/loss", s, 1000, rng) for s in (0, 999)]
    assert losses[0] > losses[1] + 1.5
    lrs = [synthetic_value("lr", s, 1000, rng) for s in (0, 50, 999)]
    assert lrs[0] == 0 and lrs[1] > lrs[2]


def test_stream_job_runs_in_a_worker(make_studio, run_job):
    studio = make_studio(("diagnostics", hooks))
    job = run_job(studio, "diagnostics.stream", {"steps": 300, "rate": 0, "metrics_per_step": 3})
    assert job.status == RunStatus.SUCCEEDED
    assert job.result["events"] == 900
    assert set(job.run.metrics()) == {"train/loss", "val/loss", "lr"}


def test_fail_at_step_fails_cleanly(make_studio, run_job):
    studio = make_studio(("diagnostics", hooks))
    job = run_job(studio, "diagnostics.stream", {"steps": 100, "rate": 0, "fail_at_step": 5})
    assert job.status == RunStatus.FAILED and "failing at step 5" in job.error


def test_stream_emits_typed_metrics_and_progress_and_stops_when_cancelled(job_context):
    ctx = job_context()
    result = stream(StreamParams(steps=50, rate=0, metrics_per_step=2), ctx)
    assert result["events"] == 100 and len(ctx.metrics("val/loss")) == 50
    assert ctx.of_kind(Progress)[-1].done == 50
    ctx = job_context("stopped")
    ctx.cancel_when(lambda event: isinstance(event, Progress) and event.done >= 10)
    with pytest.raises(JobCancelled):
        stream(StreamParams(steps=1000, rate=0), ctx)
    assert len(ctx.metrics("train/loss")) < 1000
