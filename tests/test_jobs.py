"""Both executors, failures, cancel, crashed workers, queueing, and no lost events."""

import asyncio
import time

import pytest
import sample_plugins

from studio.api import Log, Metric, Status
from studio.runtime import jobs as jobs_module
from studio.runtime.jobs import JobError, ParamsError


@pytest.fixture
def studio(make_studio):
    return make_studio(("t", sample_plugins.good))


@pytest.mark.parametrize("kind", ["t.count", "t.count_thread", "t.count_async"])
def test_job_succeeds_and_persists(studio, run_job, kind):
    received = []
    studio.bus.subscribe(lambda run_id, events: received.extend(events))
    job = run_job(studio, kind, {"n": 25})
    assert job.status == "succeeded", job.error
    assert job.result == {"n": 25}
    info = job.run.info()
    assert info["status"] == "succeeded" and info["result"] == {"n": 25}
    assert job.run.params() == {"n": 25, "delay": 0.0, "fail": False}
    steps, _values = job.run.metrics()["loss"]
    assert steps == list(range(25))
    assert [e.step for e in received if isinstance(e, Metric)] == list(range(25))
    assert [e.status for e in received if isinstance(e, Status)] == ["queued", "running", "succeeded"]


@pytest.mark.parametrize("kind", ["t.count", "t.count_thread", "t.count_async"])
def test_job_that_raises_is_failed_with_message_and_traceback(studio, run_job, kind):
    job = run_job(studio, kind, {"n": 3, "fail": True})
    assert job.status == "failed"
    assert "ValueError" in job.error and "on purpose" in job.error
    assert "Traceback" in job.traceback
    errors = [e.text for e in job.run.events() if isinstance(e, Log) and e.level == "error"]
    assert errors and "on purpose" in errors[-1]
    assert job.run.info()["status"] == "failed"


def test_bad_params_and_unknown_kind_raise_before_any_folder(studio):
    with pytest.raises(ParamsError, match="n: Input should be greater than or equal to 0"):
        studio.jobs.validate("t.count", {"n": -1})
    with pytest.raises(JobError, match="unknown job kind 'nope'"):
        studio.jobs.validate("nope", {})
    assert studio.store.list() == []


@pytest.mark.parametrize("kind", ["t.sleep", "t.count_async"])
def test_cooperative_cancel(studio, run_job, kind):
    params = {"seconds": 30} if kind == "t.sleep" else {"n": 100000, "delay": 0.01}
    start = time.monotonic()
    job = run_job(studio, kind, params, cancel_after=1.5)
    assert job.status == "cancelled"
    assert time.monotonic() - start < 10
    assert job.run.info()["status"] == "cancelled"


def test_worker_ignoring_cancel_is_terminated(studio, run_job, monkeypatch):
    monkeypatch.setattr(jobs_module, "CANCEL_GRACE_S", 0.5)
    start = time.monotonic()
    job = run_job(studio, "t.sleep", {"seconds": 60, "cooperative": False}, cancel_after=1.0)
    assert job.status == "cancelled"
    assert "worker was stopped" in job.error
    assert time.monotonic() - start < 15


def test_worker_killed_with_sigkill_is_reported_with_last_logs(studio, run_job):
    job = run_job(studio, "t.kill_self")
    assert job.status == "failed"
    assert "killed by SIGKILL" in job.error
    assert "last words before SIGKILL" in job.error
    assert job.run.metrics()["loss"][1] == [1.0]  # what it logged before dying is kept


def test_worker_exiting_early_is_reported(studio, run_job):
    job = run_job(studio, "t.hard_exit")
    assert job.status == "failed"
    assert "exited with code 7" in job.error


def test_queueing_respects_process_limit_and_cancel_while_queued(studio):
    async def go():
        first = studio.jobs.submit("t.sleep", {"seconds": 30})
        second = studio.jobs.submit("t.count", {"n": 2})
        await asyncio.sleep(1.0)
        assert first.status == "running" and second.status == "queued"
        studio.jobs.cancel(second.id)
        assert second.status == "cancelled"
        studio.jobs.cancel(first.id)
        await studio.jobs.wait(first)
        return first, second

    first, second = asyncio.run(go())
    assert first.status == "cancelled"
    assert second.run.info()["status"] == "cancelled"


def test_shutdown_cancels_everything(studio):
    async def go():
        job = studio.jobs.submit("t.sleep", {"seconds": 30})
        await asyncio.sleep(1.0)
        await studio.jobs.shutdown()
        return job

    job = asyncio.run(go())
    assert job.status == "cancelled"
    assert job._proc is not None and not job._proc.is_alive()


def test_no_event_is_dropped_between_worker_log_and_subscribers(studio, run_job):
    received = []
    studio.bus.subscribe(lambda run_id, events: received.extend(e for e in events if isinstance(e, Metric)))
    n = 50_000
    job = run_job(studio, "t.flood", {"n": n})
    assert job.status == "succeeded"
    on_disk = [e.step for e in job.run.events() if isinstance(e, Metric)]
    assert on_disk == list(range(n))
    assert [e.step for e in received] == list(range(n))


def test_cancel_while_the_worker_is_still_spawning_is_not_lost(studio):
    async def go():
        job = studio.jobs.submit("t.sleep", {"seconds": 60})
        while job.status != "running":
            await asyncio.sleep(0)
        studio.jobs.cancel(job.id)  # the worker process is being started right now
        await asyncio.wait_for(studio.jobs.wait(job), 20)
        return job

    job = asyncio.run(go())
    assert job.status == "cancelled"
    assert job.run.info()["status"] == "cancelled"


def test_terminate_all_stops_workers_and_records_it(studio):
    async def go():
        job = studio.jobs.submit("t.sleep", {"seconds": 60, "cooperative": False})
        while job._proc is None or not job._proc.is_alive():
            await asyncio.sleep(0.05)
        return job

    loop = asyncio.new_event_loop()
    job = loop.run_until_complete(go())
    loop.close()  # as at exit: the loop is gone, the worker is not
    studio.jobs.terminate_all()
    assert not job._proc.is_alive()
    assert job.run.info()["status"] == "cancelled"


def test_a_failure_written_for_the_user_reads_without_its_class_name():
    from studio.api import StudioFileError
    from studio.runtime.worker import outcome_of

    class CheckpointProblem(StudioFileError):
        pass

    assert outcome_of(CheckpointProblem("config.json is not valid JSON"))["error"] == "config.json is not valid JSON"
    assert outcome_of(ZeroDivisionError("division by zero"))["error"] == "ZeroDivisionError: division by zero"
