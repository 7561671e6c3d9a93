"""Token records (studio.api.tokens): a round trip through safetensors + JSON, the OpenAI
shape, and a clear error for each way the files can be missing or broken."""

from __future__ import annotations

import json
import math

import pytest

from studio.api import TokenRecord, TokenRecordError


def _record() -> TokenRecord:
    return TokenRecord(
        model="studio/run-1",
        prompt="ab",
        reply="cde",
        reply_tokens=["c", "d", "e"],
        logprobs=[-0.1, -1.5, -0.25],
        top_tokens=[["c", "x"], ["y", "z", "d"], []],
        top_logprobs=[[-0.1, -2.5], [-0.5, -1.2, -1.5], []],
        prompt_tokens=["a", "b"],
        prompt_ids=[1, 2],
        reply_ids=[3, 4, 5],
        entropy=[0.3, 1.1, 0.6],
        sampling={"temperature": 0.7, "seed": 3},
    )


def test_round_trip_keeps_every_field(tmp_path):
    record = _record()
    path = record.save(tmp_path / "tensors", "span-1")
    assert path == tmp_path / "tensors" / "span-1.json"
    assert (tmp_path / "tensors" / "span-1.safetensors").is_file()
    meta = json.loads(path.read_text())
    assert meta["format"] == "studio.token-record/1" and "logprobs" not in meta  # numbers live in safetensors
    loaded = TokenRecord.load(path)
    assert loaded.reply_tokens == record.reply_tokens and loaded.top_tokens == record.top_tokens
    assert loaded.logprobs == pytest.approx(record.logprobs, abs=1e-6)
    for got, want in zip(loaded.top_logprobs, record.top_logprobs, strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    assert loaded.entropy == pytest.approx(record.entropy, abs=1e-6)
    assert (loaded.prompt_ids, loaded.reply_ids, loaded.prompt_tokens) == ([1, 2], [3, 4, 5], ["a", "b"])
    assert loaded.sampling == {"temperature": 0.7, "seed": 3} and loaded.model == "studio/run-1"
    # rank among the alternatives, and "not among them"
    assert [loaded.rank(i) for i in range(3)] == [0, 2, None]
    assert loaded.step_entropy(1) == (pytest.approx(1.1, abs=1e-6), True)


def test_from_openai_and_the_entropy_estimate(tmp_path):
    content = [
        {
            "token": "Hi",
            "logprob": -0.2,
            "top_logprobs": [{"token": "Hi", "logprob": -0.2}, {"token": "Yo", "logprob": -2.0}],
        },
        {"token": "!", "logprob": -0.7, "top_logprobs": []},
    ]
    record = TokenRecord.from_openai("openai/x", "say hi", "Hi!", content)
    assert record.reply_tokens == ["Hi", "!"] and record.note == ""
    value, exact = record.step_entropy(0)
    assert not exact and value == pytest.approx(0.2 * math.exp(-0.2) + 2.0 * math.exp(-2.0))
    assert record.step_entropy(1) == (None, False)
    loaded = TokenRecord.load(record.save(tmp_path, "s"))
    assert loaded.top_tokens == [["Hi", "Yo"], []] and loaded.entropy is None and loaded.reply_ids is None
    none = TokenRecord.from_openai("openai/x", "p", "r", None)
    assert none.reply_tokens == [] and none.note == "the provider returned no logprobs"


def _retensor(json_path, **arrays) -> None:
    """Rewrite one tensor of a saved record (float64 values where ids belong, say)."""
    import numpy as np
    from safetensors.numpy import load, save

    path = json_path.with_suffix(".safetensors")
    tensors = {**load(path.read_bytes()), **{k: np.asarray(v) for k, v in arrays.items()}}
    path.write_bytes(save(tensors))


@pytest.fixture
def saved(tmp_path):
    return _record().save(tmp_path, "span")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.unlink(), "is missing"),
        (lambda p: p.with_suffix(".safetensors").unlink(), "are missing"),
        (lambda p: p.write_text("{not json"), "not valid JSON"),
        (lambda p: p.write_text('{"format": "other/1"}'), "not a token record"),
        (
            lambda p: p.with_suffix(".safetensors").write_bytes(p.with_suffix(".safetensors").read_bytes()[:40]),
            "not a readable safetensors",
        ),
        (lambda p: p.with_suffix(".safetensors").write_bytes(b"\x80\x04garbage"), "not a readable safetensors"),
        (
            lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "reply_tokens": ["c", "d"]})),
            "for 2 reply tokens",
        ),
        (
            lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "top_tokens": [["c"], ["d"]]})),
            "'top_tokens' has 2 rows",
        ),
        (lambda p: p.write_text('{"format": "studio.token-record/1", "n": ' + "1" * 5000 + "}"), "not valid JSON"),
        (lambda p: _retensor(p, reply_ids=[float("nan"), 1.0, 2.0]), "not token ids"),
    ],
    ids=[
        *("no-json", "no-tensors", "bad-json", "wrong-format", "truncated", "garbage", "short-tokens", "short-top"),
        *("5000-digit-int", "float-ids"),
    ],
)
def test_broken_records_give_a_clear_error(saved, damage, message):
    damage(saved)
    with pytest.raises(TokenRecordError, match=message):
        TokenRecord.load(saved)


def test_save_refuses_bad_stems_and_mismatched_lists(tmp_path):
    with pytest.raises(TokenRecordError, match="cannot name"):
        _record().save(tmp_path, "../x")
    bad = _record()
    bad.logprobs = bad.logprobs[:2]
    with pytest.raises(TokenRecordError, match="logprobs has 2 entries for 3"):
        bad.save(tmp_path, "bad")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_the_context_and_the_resolved_model_are_kept_and_optional(tmp_path):
    """A local model's context length says which prompt tokens it saw (the last ``context``);
    a record written before it was kept loads with none."""
    record = _record()
    record.prompt_tokens, record.prompt_ids = ["p"] * 10, list(range(10))
    record.context, record.resolved_model = 4, "studio//tmp/run-1/checkpoints/best"
    path = record.save(tmp_path, "s")
    loaded = TokenRecord.load(path)
    assert (loaded.context, loaded.resolved_model, loaded.model) == (4, record.resolved_model, "studio/run-1")
    assert loaded.seen_from() == 6 and loaded.to_json()["context"] == 4
    meta = json.loads(path.read_text())
    del meta["context"], meta["resolved_model"]  # an older record
    path.write_text(json.dumps(meta))
    older = TokenRecord.load(path)
    assert older.context is None and older.resolved_model == "" and older.seen_from() == 0
    meta["context"] = "64"
    path.write_text(json.dumps(meta))
    with pytest.raises(TokenRecordError, match="'context' is not a token count"):
        TokenRecord.load(path)
