"""Tests of the hello plugin, with the fixtures tensor-studio gives pytest (``studio.testing``):
``job_context`` to call a runner directly, ``make_studio`` and ``run_job`` to run a job the
way the studio does (in a worker process), ``make_window`` for the panel."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from studio.api import JobCancelled, JobError, Log, Progress, RunStatus
from studio.testing import loop_until
from studio_hello import hooks
from studio_hello.attention import DecayAttention
from studio_hello.config import CountParams
from studio_hello.jobs import count
from studio_hello.nodes import greet


def test_count_reports_progress_metrics_and_its_result(job_context):
    ctx = job_context()
    assert count(CountParams(steps=4), ctx) == {"steps": 4, "total": 10}
    assert ctx.metrics("total") == [(1, 1.0), (2, 3.0), (3, 6.0), (4, 10.0)]
    assert [(e.done, e.total) for e in ctx.of_kind(Progress)] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [e.text for e in ctx.of_kind(Log)][-1] == "counted 4"


def test_count_stops_when_cancelled(job_context):
    ctx = job_context()
    ctx.cancel_when(lambda event: isinstance(event, Progress) and event.done == 2)
    with pytest.raises(JobCancelled):
        count(CountParams(steps=100), ctx)
    assert len(ctx.metrics("total")) == 2


def test_the_studio_runs_the_job_in_a_worker(make_studio, run_job):
    studio = make_studio(("hello", hooks))
    job = run_job(studio, "hello.count", {"steps": 3})
    assert job.status == RunStatus.SUCCEEDED, job.error
    assert job.result == {"steps": 3, "total": 6}


def test_bad_parameters_are_refused(make_studio, run_job):
    studio = make_studio(("hello", hooks))
    with pytest.raises(JobError, match="steps"):
        run_job(studio, "hello.count", {"steps": 0})


@pytest.mark.gui
def test_the_panel_runs_the_job_and_shows_its_result(make_window, qasync_loop):
    window = make_window(("hello", hooks))
    panel = window.show_panel("hello:panel")
    panel.form.editors["steps"][0].setValue(5)

    async def click_run() -> None:  # in the studio, clicks arrive while its (qasync) event loop runs
        panel.run_button.click()

    qasync_loop.run_until_complete(click_run())
    assert panel.tracker.busy and panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    loop_until(qasync_loop, lambda: not panel.tracker.busy)
    assert panel.tracker.last.succeeded, panel.status.text()
    assert json.loads(panel.result.toPlainText()) == {"steps": 5, "total": 15}
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_the_greet_node_greets():
    assert greet({}, {"name": "Ada"}) == {"greeting": "Hello, Ada!"}
    assert greet({"greeting": "Hi", "punctuation": "?"}, {"name": "Bo"}) == {"greeting": "Hi, Bo?"}


def test_decay_attention_keeps_the_shape_and_never_reads_the_future():
    config = SimpleNamespace(n_embd=8, n_head=2, bias=True)  # the fields it reads of the trainer's ModelConfig
    attention = DecayAttention(config)
    x = torch.randn(2, 6, 8)
    y = attention(x)
    assert y.shape == x.shape
    changed = x.clone()
    changed[:, 4:] = torch.randn(2, 2, 8)  # change the last two positions
    assert torch.allclose(attention(changed)[:, :4], y[:, :4])  # the first four do not see it
    y.sum().backward()
    assert attention.rate.grad is not None  # the decay is learned
