"""Token records of model calls: a workflow run through litellm against the fake server
with logprobs on records the reply's tokens beside the run; off, or a provider without
them, leaves a note on the span instead; a cache hit keeps its tokens; a failed write is a
warning, never a failed call."""

from __future__ import annotations

import asyncio
import json

import pytest

from studio.api import TokenRecord
from studio_prompts.config import RunParams
from studio_prompts.jobs import run
from studio_prompts.lm import LM, to_completion
from studio_prompts.tokens import NO_LOGPROBS, NOT_ASKED, token_fields

from .conftest import fields
from .helpers import predict_node, write_workflow


def _run(tmp_path, job_context, server, name: str, config: dict | None, cache: bool = False, **model):
    extra: dict = {"config": config} if config else {}
    node = predict_node("country -> capital", {"country": "input.country"}, **extra)
    path = write_workflow(
        tmp_path / f"{name}.workflow.json",
        nodes={"ask": node},
        inputs={"country": "str"},
        outputs={"capital": "ask.capital"},
        model={"model": "openai/fake-model", "api_base": server.url, **model},
    )
    ctx = job_context(name)
    params = RunParams(workflow=str(path), inputs={"country": "France"}, cache=cache, retries=0)
    asyncio.run(run(params, ctx))
    spans = [json.loads(line) for line in (ctx.run_dir / "events.jsonl").read_text().splitlines()]
    (llm,) = [s for s in spans if s.get("span_kind") == "llm"]
    return ctx.run_dir, llm


@pytest.fixture
def server(llm_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm_server.reset(script=[fields(capital="Paris is the capital")])
    return llm_server


def test_logprobs_on_records_the_reply_tokens(tmp_path, job_context, server):
    run_dir, llm = _run(tmp_path, job_context, server, "on", {"logprobs": True, "top_logprobs": 5})
    assert server.requests[-1]["logprobs"] is True and server.requests[-1]["top_logprobs"] == 5
    assert llm["token_record"] == f"tensors/{llm['id']}.json" and "token_note" not in llm
    record = TokenRecord.load(run_dir / llm["token_record"])
    assert "".join(record.reply_tokens) == llm["reply"] == record.reply
    assert len(record) > 3 and all(len(top) == 5 for top in record.top_tokens)
    assert all(lp < 0 for lp in record.logprobs)
    for top in record.top_logprobs:  # likeliest first
        assert top == sorted(top, reverse=True)
    assert record.model == "openai/fake-model" and record.note == ""  # as the workflow named it
    # the chosen token is among the alternatives with its own logprob
    for i in range(len(record)):
        rank = record.rank(i)
        assert rank is not None and record.top_logprobs[i][rank] == pytest.approx(record.logprobs[i], abs=1e-6)


def test_logprobs_off_records_nothing_and_says_so(tmp_path, job_context, server):
    run_dir, llm = _run(tmp_path, job_context, server, "off", None)
    assert "logprobs" not in server.requests[-1]
    assert "token_record" not in llm and llm["token_note"] == NOT_ASKED
    assert not (run_dir / "tensors").exists()


def test_the_workflows_model_can_ask_for_logprobs(tmp_path, job_context, server):
    run_dir, llm = _run(tmp_path, job_context, server, "wf", None, logprobs=True, top_logprobs=2)
    assert server.requests[-1]["top_logprobs"] == 2
    record = TokenRecord.load(run_dir / llm["token_record"])
    assert "".join(record.reply_tokens) == llm["reply"] and {len(t) for t in record.top_tokens} == {2}


def test_a_cache_hit_keeps_its_tokens(tmp_path, job_context, server):
    config = {"logprobs": True, "top_logprobs": 3}
    _first_dir, first = _run(tmp_path, job_context, server, "first", config, cache=True)
    run_dir, second = _run(tmp_path, job_context, server, "second", config, cache=True)
    assert len(server.requests) == 1 and second["cache_hit"] is True
    record = TokenRecord.load(run_dir / second["token_record"])
    assert "".join(record.reply_tokens) == first["reply"]


def test_a_local_reply_and_a_failed_write(tmp_path, caplog):
    content = [
        {
            "token": "H",
            "logprob": -0.1,
            "top_logprobs": [{"token": "H", "logprob": -0.1}, {"token": "J", "logprob": -3}],
        },
        {
            "token": "i",
            "logprob": -0.7,
            "top_logprobs": [{"token": "o", "logprob": -0.5}, {"token": "i", "logprob": -0.7}],
        },
    ]
    reply = {
        "choices": [{"message": {"content": "Hi"}, "finish_reason": "stop", "logprobs": {"content": content}}],
        "studio_tokens": {
            "prompt": "User: hello\nAssistant:",
            "prompt_tokens": ["U", "s"],
            "prompt_ids": [5, 6],
            "reply_ids": [7, 8],
            "entropy": [0.4, 1.2],
            "context": 64,
        },
        "model": "studio//tmp/runs/run-1/checkpoints/best",  # the provider's resolved folder
    }
    completion = to_completion(reply, "studio/run-1", 0.1, 1)
    params = {"temperature": 0}
    found = token_fields("s1", completion, [], params, tmp_path / "tensors", local=True, model="studio/run-1")
    record = TokenRecord.load(tmp_path / found["token_record"])
    # the model as the call named it, the provider's folder beside it; the model's context length
    assert record.model == "studio/run-1" and record.resolved_model == "studio//tmp/runs/run-1/checkpoints/best"
    assert record.context == 64
    assert record.prompt == "User: hello\nAssistant:" and record.prompt_ids == [5, 6] and record.reply_ids == [7, 8]
    assert record.entropy == pytest.approx([0.4, 1.2]) and record.sampling == {"temperature": 0}
    assert [record.rank(0), record.rank(1)] == [0, 1]
    # a local provider without token data; and a folder that cannot be written (a file is in the way)
    bare = to_completion({"choices": [{"message": {"content": "x"}}]}, "studio/run-1", 0.1, 1)
    assert token_fields("s2", bare, [], {}, tmp_path / "tensors", local=True) == {"token_note": NO_LOGPROBS}
    (tmp_path / "blocked").write_text("a file")
    with caplog.at_level("WARNING"):
        note = token_fields("s3", completion, [], {}, tmp_path / "blocked", local=True)
    assert note["token_note"].startswith("token data not saved") and "s3" in caplog.text


def test_a_local_provider_is_never_sent_the_logprobs_parameters():
    lm = LM("studio/run-1", logprobs=True, top_logprobs=4)
    request = lm.request([{"role": "user", "content": "hi"}])
    lm._plugin_provider = True  # as backend() sets it for a plugin's provider
    assert "logprobs" not in lm._sendable(request) and "top_logprobs" not in lm._sendable(request)
    lm._plugin_provider = False
    assert lm._sendable(request)["top_logprobs"] == 4
    # top_logprobs alone asks for logprobs too (OpenAI refuses one without the other)
    assert LM("openai/x", top_logprobs=2).request([])["logprobs"] is True
