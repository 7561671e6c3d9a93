"""Typed events: what every reader of a run's events gets (studio.api.events)."""

import pytest

from studio.api import Artifact, Log, Metric, Progress, RunStatus, Span, Status, parse_event, read_events, read_records
from studio.runtime.context import span_event


def test_each_kind_parses_to_its_class_with_its_fields():
    assert parse_event({"t": 2.0, "kind": "metric", "name": "loss", "step": 3, "value": 1.5}) == Metric(
        "loss", 3, 1.5, 2.0
    )
    assert parse_event({"kind": "metric", "name": "loss", "step": 3, "value": None}).value is None  # a logged NaN
    assert parse_event({"kind": "progress", "done": 2, "total": None, "message": "x"}) == Progress(2, None, "x")
    assert parse_event({"kind": "log", "text": "hi"}) == Log("hi", "info")
    assert parse_event({"kind": "artifact", "path": "/a", "artifact_kind": "checkpoint"}) == Artifact(
        "/a", "checkpoint"
    )
    status = parse_event({"kind": "status", "status": "failed", "error": "boom"})
    assert status == Status(RunStatus.FAILED, "boom") and status.finished and status.status == "failed"
    assert not parse_event({"kind": "status", "status": "running"}).finished


def test_a_span_keeps_its_own_kind_and_every_field():
    raw = span_event(
        5.0,
        {
            "kind": "llm",
            "id": "s1",
            "parent": None,
            "name": "call",
            "start": 1.0,
            "duration": 0.5,
            "inputs": {"q": 1},
            "outputs": {"a": 2},
            "total_tokens": 7,
        },
    )
    span = parse_event(raw)
    assert isinstance(span, Span) and span.kind == "span" and span.span_kind == "llm"
    assert (span.id, span.name, span.status, span.duration, span.outputs) == ("s1", "call", "ok", 0.5, {"a": 2})
    assert span.record["kind"] == "llm" and span.record["total_tokens"] == 7 and "span_kind" not in span.record


@pytest.mark.parametrize(
    "raw",
    [
        {"kind": "metric", "name": "x", "step": True, "value": 1},  # a bool is not a step
        {"kind": "metric", "name": "x", "step": 1, "value": "1.0"},
        {"kind": "metric", "step": 1, "value": 1},  # no name
        {"kind": "progress", "done": "half"},
        {"kind": "status", "status": "exploded"},
        {"kind": "artifact"},
        {"kind": "newer-kind", "x": 1},
        {"no": "kind"},
    ],
)
def test_a_malformed_or_unknown_event_is_skipped_not_raised(raw):
    assert parse_event(raw) is None


def test_read_events_skips_what_is_not_an_event_and_read_records_keeps_it(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text(
        '{"kind":"metric","name":"a","step":0,"value":1}\n[1,2]\n{"kind":"metric","name":"a","step":"x"}\n'
        '{"id":"s","parent":null}\n{"kind":"log","text":"ok"}\n{"kind":"met',
        encoding="utf-8",
    )
    assert [type(e) for e in read_events(tmp_path)] == [Metric, Log]  # a run folder or the file itself
    assert len(read_events(log)) == 2
    assert len(list(read_records(log))) == 4  # every complete JSON object
    assert read_events(tmp_path / "missing") == [] and list(read_records(tmp_path)) == []


@pytest.mark.parametrize(
    "raw",
    [
        {"kind": "metric", "name": "x", "step": 1, "value": 10**400},  # no float holds it
        {"kind": "metric", "name": "x", "step": float("inf"), "value": 1},
        {"kind": "metric", "name": "x", "step": 1, "value": float("nan")},
        {"kind": "progress", "done": float("-inf")},
        {"kind": "span", "id": ["a", "list"], "name": "x"},  # an id must be hashable text
    ],
)
def test_numbers_no_float_holds_and_ids_that_are_no_text_are_skipped(raw):
    assert parse_event(raw) is None


def test_a_lone_surrogate_or_a_bad_time_does_not_reach_a_reader(tmp_path):
    log = parse_event({"kind": "log", "text": "bad \ud800 byte", "t": "noon"})
    assert log.text == "bad \\ud800 byte" and log.t == 0.0
    log.text.encode("utf-8")  # printable and storable
    assert parse_event({"kind": "span", "id": 7, "parent": None, "name": "n"}).id == "7"
    big = tmp_path / "events.jsonl"
    big.write_text('{"kind":"metric","name":"a","step":' + "9" * 5000 + ',"value":1}\n{"kind":"log","text":"ok"}\n')
    assert [type(e) for e in read_events(big)] == [Log]  # an integer of 5000 digits is skipped, not raised
