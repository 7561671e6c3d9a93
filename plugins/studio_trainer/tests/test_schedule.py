"""The learning-rate schedule and how warmup and validation fit a run's length (no torch)."""

from __future__ import annotations

import math

import pytest

from studio_trainer.config import TrainParams
from studio_trainer.train.schedule import lr_at, plan


def curve(params: TrainParams) -> list[float]:
    warmup = plan(params).warmup
    return [
        lr_at(step, max_lr=params.learning_rate, min_lr=params.min_lr, warmup=warmup, total=params.max_steps)
        for step in range(params.max_steps)
    ]


def test_the_defaults_are_used_as_given_for_a_run_as_long_as_they_are_meant_for():
    schedule = plan(TrainParams())  # 2000 steps, 200 warmup, validation every 250 steps on 200 batches
    assert (schedule.warmup, schedule.eval_interval, schedule.eval_iters, schedule.changes) == (200, 250, 200, ())
    assert "(" not in schedule.describe(2000)


@pytest.mark.parametrize("max_steps", [5, 50, 100, 199, 399])
def test_a_short_run_warms_up_peaks_and_decays_within_the_run(max_steps):
    """max_steps below warmup_steps left the learning rate rising all run."""
    params = TrainParams(max_steps=max_steps)  # warmup_steps 200
    lrs = curve(params)
    peak = lrs.index(max(lrs))
    assert peak <= max_steps // 10  # a tenth of the run warms up
    assert math.isclose(max(lrs), params.learning_rate, rel_tol=1e-9)
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1 :], strict=False))  # then only decays
    assert lrs[-1] < params.learning_rate * 0.6 or max_steps < 10


def test_a_short_run_validates_a_few_times_and_never_more_than_it_trains():
    schedule = plan(TrainParams(max_steps=100, grad_accum=1))  # eval_interval 250, eval_iters 200
    assert (schedule.warmup, schedule.eval_interval, schedule.eval_iters) == (10, 25, 25)
    line = schedule.describe(100)
    assert "warmup 10 steps" in line and "validation every 25 steps on 25 batches" in line
    assert "warmup_steps 200 shortened to 10" in line and "eval_interval 250 shortened to 25" in line
    assert "eval_iters 200 lowered to 25" in line
    assert schedule.brief == (
        "warmup 10 steps, not 200",
        "validation every 25 steps, not 250",
        "25 validation batches, not 200",
    )
    assert plan(TrainParams(max_steps=100, grad_accum=8)).eval_iters == 200  # 25 steps x 8 micro-batches
    assert plan(TrainParams(max_steps=3)).eval_interval == 1


def test_settings_that_fit_the_run_are_kept():
    schedule = plan(TrainParams(max_steps=400, warmup_steps=40, eval_interval=50, eval_iters=20))
    assert (schedule.warmup, schedule.eval_interval, schedule.eval_iters, schedule.changes) == (40, 50, 20, ())
    # unusual but deliberate: a long warmup, one validation at the very end (benchmarks do this)
    schedule = plan(TrainParams(max_steps=400, warmup_steps=200, eval_interval=400, eval_iters=20))
    assert (schedule.warmup, schedule.eval_interval, schedule.changes) == (200, 400, ())
