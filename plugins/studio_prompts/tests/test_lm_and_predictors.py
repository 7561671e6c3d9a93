"""Predictors through litellm's real HTTP client against the local fake server: retries,
timeouts, errors, repair, cache, tracing fields, keys kept out of files, and the
predictors built on Predict."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest

from studio.testing import Fail
from studio_prompts import (
    LM,
    BestOfN,
    Budget,
    BudgetExceeded,
    ChainOfThought,
    Collector,
    LMError,
    Module,
    ParseError,
    Predict,
    ReAct,
    Refine,
    context,
)
from studio_prompts.cache import CallCache

from .conftest import cancel_soon, fields, input_value, last_user


def test_predict_over_http_with_full_trace(llm_server, lm):
    llm_server.reset(script=[fields(answer="Paris", confidence="0.9")])
    trace = Collector()
    with context(lm=lm, tracer=trace):
        out = Predict("question -> answer, confidence: float", temperature=0.2)(question="Capital of France?")
    assert out.answer == "Paris" and out.confidence == 0.9
    request = llm_server.requests[0]
    assert request["temperature"] == 0.2 and request["messages"][0]["role"] == "system"
    assert "Capital of France?" in last_user(request)
    kinds = [s["kind"] for s in trace.spans]
    assert kinds == ["llm", "parse", "predictor"]
    llm, parse, predictor = trace.spans
    assert llm["parent"] == predictor["id"] == parse["parent"]
    assert llm["model"] == "openai/fake-model" and llm["params"]["temperature"] == 0.2
    assert llm["messages"] == request["messages"] and llm["reply"].startswith("[[ ## answer")
    assert llm["tokens"]["prompt"] > 0 and llm["latency"] > 0 and llm["cache_hit"] is False
    assert predictor["inputs"] == {"question": "Capital of France?"}
    assert predictor["outputs"] == {"answer": "Paris", "confidence": 0.9}
    assert predictor["total_tokens"] == llm["tokens"]["prompt"] + llm["tokens"]["completion"]
    assert predictor["total_calls"] == 1


def test_retries_on_rate_limit_and_server_error(llm_server, lm):
    llm_server.reset(script=[Fail(429, "slow down"), Fail(500), fields(answer="ok")])
    trace = Collector()
    with context(lm=lm, tracer=trace):
        assert Predict("q -> answer")(q="x").answer == "ok"
    assert len(llm_server.requests) == 3
    assert trace.spans[0]["attempts"] == 3


def test_client_errors_are_not_retried_and_say_what_to_check(llm_server, lm):
    llm_server.reset(script=[Fail(401, "invalid api key")])
    with context(lm=lm), pytest.raises(LMError, match="check the API key") as info:
        Predict("q -> answer")(q="x")
    assert len(llm_server.requests) == 1 and info.value.status == 401


def test_timeout_then_retry_then_clear_error(llm_server, lm):
    llm_server.reset(script=[fields(answer="late")], latency=1.0)
    slow = lm.copy(timeout=0.3, retries=1)
    t0 = time.perf_counter()
    with context(lm=slow), pytest.raises(LMError, match="fake-model"):
        Predict("q -> answer")(q="x")
    assert len(llm_server.requests) == 2 and time.perf_counter() - t0 < 3


def test_dead_server_is_a_clear_error(lm):
    dead = lm.copy(api_base="http://127.0.0.1:9/v1", retries=1, backoff=0.01)
    for call in (lambda: Predict("q -> answer")(q="x"), lambda: asyncio.run(Predict("q -> answer").acall(q="x"))):
        with context(lm=dead), pytest.raises(LMError) as info:
            call()
        assert str(info.value) == (
            "openai/fake-model: cannot connect to http://127.0.0.1:9/v1 (connection refused) "
            "after 2 attempts — is the server running?"
        )


def test_error_text_drops_litellm_prefixes_and_object_reprs_but_keeps_hints(llm_server, lm):
    from studio_prompts.lm import connection_failure, plain_message

    class APIConnectionError(Exception):
        pass

    noisy = APIConnectionError(
        "litellm.APIConnectionError: Ollama_chatException - Cannot connect to host "
        "127.0.0.1:9 ssl:<ssl.SSLContext object at 0x7fce6ea32b10> [Connect call failed "
        "('127.0.0.1', 9)]"
    )
    noisy.__cause__ = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")  # as aiohttp chains it
    assert plain_message(noisy) == "Cannot connect to host 127.0.0.1:9 [Connect call failed ('127.0.0.1', 9)]"
    assert connection_failure(noisy) == ("connection refused", "127.0.0.1:9")
    assert connection_failure(ValueError("litellm.BadRequestError: OpenAIException - bad model")) is None
    assert plain_message(ValueError("litellm.BadRequestError: OpenAIException - bad model")) == "bad model"

    llm_server.reset(script=[Fail(429, "slow down")])
    with context(lm=lm.copy(retries=0)), pytest.raises(LMError) as info:
        Predict("q -> answer")(q="x")
    text = str(info.value)
    assert "slow down" in text and "rate limited" in text and "litellm." not in text and "Exception -" not in text
    llm_server.reset(script=[Fail(401, "invalid api key")])
    with context(lm=lm), pytest.raises(LMError) as info:
        Predict("q -> answer")(q="x")
    assert "invalid api key" in str(info.value) and "check the API key" in str(info.value)
    assert "litellm." not in str(info.value)


def test_one_repair_then_parse_error_with_the_raw_reply(llm_server, lm):
    llm_server.reset(script=["[[ ## answer ## ]] 4", fields(answer="4", confidence="1.0")])
    with context(lm=lm):
        assert Predict("q -> answer, confidence: float")(q="2+2").confidence == 1.0
    repair = last_user(llm_server.requests[1])
    assert "`confidence`: missing" in repair and llm_server.requests[1]["messages"][-2]["role"] == "assistant"

    llm_server.reset(script=["I cannot answer that."])
    with context(lm=lm), pytest.raises(ParseError, match=re.escape("Raw reply:\nI cannot answer that.")) as info:
        Predict("q -> answer, confidence: float")(q="2+2")
    assert len(llm_server.requests) == 2 and info.value.problems["confidence"] == "missing"


def test_json_format_asks_for_structured_output(llm_server, lm):
    llm_server.reset(script=['{"answer": "blue", "n": 3}'])
    with context(lm=lm, format="json"):
        out = Predict("q -> answer, n: int", structured=True)(q="sky?")
    assert out == {"answer": "blue", "n": 3}
    schema = llm_server.requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["n"]["type"] == "integer" and schema["required"] == ["answer", "n"]


def test_cache_hits_skip_the_server_and_show_in_the_trace(llm_server, lm, tmp_path):
    llm_server.reset(script=[fields(answer="a1"), fields(answer="a2")])
    cache = CallCache(tmp_path / "llm.sqlite")
    trace = Collector()
    with context(lm=lm, cache=cache, tracer=trace):
        first = Predict("q -> answer")(q="same")
        second = Predict("q -> answer")(q="same")
        with context(cache=None):
            third = Predict("q -> answer")(q="same")
    assert first.answer == second.answer == "a1" and third.answer == "a2"
    assert len(llm_server.requests) == 2
    llm_spans = [s for s in trace.spans if s["kind"] == "llm"]
    assert [s["cache_hit"] for s in llm_spans] == [False, True, False]
    assert llm_spans[1]["status"] == "cached"
    assert len(cache) == 1


def test_api_keys_never_reach_the_cache_or_the_trace(llm_server, tmp_path, monkeypatch):
    secret = "sk-very-secret-123"
    monkeypatch.setenv("MY_KEY", secret)
    llm_server.reset(script=[fields(answer="ok")])
    keyed = LM("openai/fake-model", api_base=llm_server.url, api_key_env="MY_KEY")
    cache = CallCache(tmp_path / "c.sqlite")
    trace = Collector()
    with context(lm=keyed, cache=cache, tracer=trace):
        Predict("q -> answer")(q="x")
    assert secret not in json.dumps(trace.spans)
    assert secret.encode() not in (tmp_path / "c.sqlite").read_bytes()
    assert secret not in json.dumps(keyed.to_dict())


def test_budget_stops_calls(llm_server, lm):
    llm_server.reset(script=[fields(answer="ok")])
    with context(lm=lm, budget=Budget(max_calls=1)):
        Predict("q -> answer")(q="1")
        with pytest.raises(BudgetExceeded):
            Predict("q -> answer")(q="2")


def test_cancel_flag_stops_before_the_call(llm_server, lm):
    from studio.api import JobCancelled

    with context(lm=lm, cancelled=lambda: True), pytest.raises(JobCancelled):
        Predict("q -> answer")(q="1")
    assert llm_server.requests == []


def test_async_calls_are_cancellable(llm_server, lm):
    llm_server.reset(script=[fields(answer="slow")], latency=2.0)
    assert cancel_soon(lambda: Predict("q -> answer").acall(q="x"), lm=lm) < 1.5


def test_chain_of_thought_adds_reasoning_first(llm_server, lm):
    llm_server.reset(script=[fields(reasoning="2 and 2 make 4", answer="4")])
    with context(lm=lm):
        out = ChainOfThought("q -> answer")(q="2+2")
    assert out.reasoning == "2 and 2 make 4" and out.answer == "4"
    system = llm_server.requests[0]["messages"][0]["content"]
    assert system.index("`reasoning`") < system.index("`answer`")


def test_demos_become_conversation_turns(llm_server, lm):
    llm_server.reset(script=[fields(answer="4")])
    predict = Predict("q -> answer", demos=[{"q": "1+1", "answer": "2"}])
    with context(lm=lm):
        predict(q="2+2")
    roles = [m["role"] for m in llm_server.requests[0]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


def test_react_calls_tools_and_survives_a_tool_error(llm_server, lm):
    calls = []

    def lookup(city: str) -> str:
        """Population of a city."""
        calls.append(city)
        if city == "Atlantis":
            raise KeyError(city)
        return "2.1 million"

    def script(request):
        text = last_user(request)
        if "trajectory" in request["messages"][0]["content"] and "next_tool_name" in request["messages"][0]["content"]:
            trajectory = input_value(request, "trajectory")
            if "[tool 0]" not in trajectory:
                return fields(
                    next_thought="try Atlantis", next_tool_name="lookup", next_tool_args='{"city": "Atlantis"}'
                )
            if "[tool 1]" not in trajectory:
                return fields(next_thought="now Paris", next_tool_name="lookup", next_tool_args='{"city": "Paris"}')
            return fields(next_thought="done", next_tool_name="finish", next_tool_args="{}")
        assert "2.1 million" in text and "KeyError" in text
        return fields(reasoning="from the tool", answer="2.1 million")

    llm_server.reset(script=script)
    trace = Collector()
    with context(lm=lm, tracer=trace):
        out = ReAct("question -> answer", tools=[lookup], max_steps=4)(question="How many live in Paris?")
    assert out.answer == "2.1 million" and calls == ["Atlantis", "Paris"]
    tools = [s for s in trace.spans if s["kind"] == "tool"]
    assert [t["status"] for t in tools] == ["error", "ok"] and tools[1]["outputs"] == "2.1 million"


def test_react_stops_at_the_step_limit(llm_server, lm):
    def script(request):
        if "next_tool_name" in request["messages"][0]["content"]:
            return fields(next_thought="again", next_tool_name="ping", next_tool_args="{}")
        return fields(reasoning="gave up", answer="unknown")

    llm_server.reset(script=script)
    pings = []
    with context(lm=lm):
        out = ReAct("question -> answer", tools=[lambda: pings.append(1) or "pong"], max_steps=3)

    # a lambda's name is "<lambda>": tools need real names, so use a def
    def ping() -> str:
        pings.append(1)
        return "pong"

    with context(lm=lm):
        out = ReAct("question -> answer", tools=[ping], max_steps=3)(question="?")
    assert len(pings) == 3 and out.answer == "unknown"


def test_best_of_n_and_refine_keep_the_best_and_refine_sees_feedback(llm_server, lm, tmp_path):
    replies = iter(["1", "5", "3"])
    llm_server.reset(script=lambda request: fields(answer=next(replies)))
    cache = CallCache(tmp_path / "c.sqlite")
    with context(lm=lm, cache=cache):  # attempts differ even with the cache on (rollout in the key)
        best = BestOfN(Predict("q -> answer"), n=3, reward=lambda inputs, pred: float(pred.answer))(q="x")
    assert best.answer == "5" and len(llm_server.requests) == 3

    replies2 = iter(["1", "9"])
    llm_server.reset(script=lambda request: fields(answer=next(replies2)))
    with context(lm=lm):
        out = Refine(Predict("q -> answer"), n=3, reward=lambda i, p: float(p.answer), threshold=5)(q="x")
    assert out.answer == "9" and len(llm_server.requests) == 2  # stopped at the threshold
    assert "scored 1" in last_user(llm_server.requests[1])


def test_modules_compose_predictors_and_trace_as_a_tree(llm_server, lm):
    class TwoStep(Module):
        def __init__(self):
            self.draft = Predict("topic -> draft")
            self.polish = Predict("draft -> text")

        def forward(self, topic):  # type: ignore[override]  # a module's forward names its own inputs
            return self.polish(draft=self.draft(topic=topic).draft)

    def script(request):
        return (
            fields(draft="rough")
            if "`draft` (str)" in request["messages"][0]["content"].split("output")[1]
            else fields(text="polished")
        )

    llm_server.reset(script=script)
    trace = Collector()
    module = TwoStep()
    with context(lm=lm, tracer=trace):
        assert module(topic="cats").text == "polished"
    assert [name for name, _ in module.named_predictors()] == ["draft", "polish"]
    root = trace.spans[-1]
    assert root["kind"] == "module" and root["name"] == "TwoStep" and root["total_calls"] == 2
    predictors = [s for s in trace.spans if s["kind"] == "predictor"]
    assert all(p["parent"] == root["id"] for p in predictors)
    assert root["total_tokens"] == sum(p["total_tokens"] for p in predictors) > 0

    async def run_async():
        with context(lm=lm):
            return await module.acall(topic="dogs")

    assert asyncio.run(run_async()).text == "polished"


def test_function_backend_and_missing_model_messages():
    echo = LM("echo", backend=lambda model, messages, **kw: fields(answer="hi"))
    assert Predict("q -> answer", lm=echo)(q="x").answer == "hi"
    with pytest.raises(ValueError, match="no model set"):
        Predict("q -> answer")(q="x")
    with pytest.raises(ValueError, match="missing input 'q'"):
        Predict("q -> answer", lm=echo)(question="x")


def test_structured_output_is_asked_where_the_provider_has_it(llm_server, lm):
    llm_server.reset(script=['{"answer": "blue"}'])
    with context(lm=lm, format="json"):
        Predict("q -> answer")(q="sky?")  # "openai/fake-model": unknown to litellm, so no schema is sent
    assert "response_format" not in llm_server.requests[0]
    assert lm.copy(model="openai/gpt-4o-mini").supports_structured_output() is True
    assert LM("echo", backend=lambda **kw: "x").supports_structured_output() is False


def test_a_model_load_the_provider_reports_is_its_own_span_inside_the_call():
    """A local model's first call took 11 s, loading and generating, with no split shown."""
    loads = iter([True, False])

    def provider(model, messages, **params):
        reply = {
            "model": model,
            "choices": [{"message": {"content": "[[ ## answer ## ]]\nParis"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        }
        if next(loads):
            reply["studio_load"] = {"start": time.time(), "seconds": 0.04, "name": "load run-1"}
            time.sleep(0.06)  # the load (0.04 s of it), then the generation
        return reply

    trace = Collector()
    with context(lm=LM("local/run-1", backend=provider, cache=False), tracer=trace):
        Predict("question -> answer")(question="Capital of France?")
        Predict("question -> answer")(question="Capital of Spain?")  # loaded already: no load span
    (load,) = [s for s in trace.spans if s["kind"] == "load"]
    first, second = [s for s in trace.spans if s["kind"] == "llm"]
    assert load["parent"] == first["id"] and load["name"] == "load run-1"
    assert load["duration"] == pytest.approx(0.04, abs=0.01)  # from the call's start: a few µs before the report's
    assert first["start"] <= load["start"] and first["load_time"] == pytest.approx(0.04, abs=0.01)
    assert first["generation_time"] == pytest.approx(first["latency"] - first["load_time"])
    assert "load_time" not in second and "generation_time" not in second


def test_the_load_span_covers_everything_before_the_model_is_ready():
    """A local model's call spent 3.6 s importing torch before its load began: that time
    was counted as generation (load 0.6 s + generation 11.8 s = the whole call)."""

    def provider(model, messages, **params):
        time.sleep(0.08)  # imports, before the provider's own load clock starts
        reply = {
            "model": model,
            "choices": [{"message": {"content": "[[ ## answer ## ]]\nParis"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
            "studio_load": {"start": time.time(), "seconds": 0.02, "name": "load run-1"},
        }
        time.sleep(0.04)  # the load (0.02 s of it), then the generation
        return reply

    trace = Collector()
    with context(lm=LM("local/run-1", backend=provider, cache=False), tracer=trace):
        Predict("question -> answer")(question="Capital of France?")
    (load,) = [s for s in trace.spans if s["kind"] == "load"]
    (call,) = [s for s in trace.spans if s["kind"] == "llm"]
    assert load["start"] == pytest.approx(call["start"], abs=0.03)  # at the call's start, not 0.08 s in
    assert call["load_time"] == pytest.approx(0.10, abs=0.03)  # imports 0.08 + load 0.02
    assert call["generation_time"] == pytest.approx(0.02, abs=0.03)
    assert call["load_time"] + call["generation_time"] == pytest.approx(call["latency"])


def test_a_workspace_model_retrained_since_is_asked_again_not_answered_from_the_cache(tmp_path, monkeypatch):
    """``studio/<run id>`` names whatever the run's best checkpoint is now: the cache key
    holds the model folder's files, so a resumed run's new weights are not answered with
    the old weights' replies."""
    import studio_prompts.lm as lm_module
    from studio.api import LLMProvider

    checkpoint = tmp_path / "run-1" / "checkpoints" / "best"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.safetensors").write_bytes(b"weights v1")
    local = LLMProvider("local", "Local", "local/", "x:y", model_refs=True)
    monkeypatch.setattr(lm_module, "provider_for", lambda model: local if model.startswith("local/") else None)
    monkeypatch.setattr(lm_module, "resolve_model", lambda ref: checkpoint if ref == "run-1" else None)
    replies = iter(["v1", "v1 again", "v2"])

    def provider(model, messages, **params):
        text = f"[[ ## answer ## ]]\n{next(replies)}"
        return {"model": model, "choices": [{"message": {"content": text}, "finish_reason": "stop"}]}

    with context(lm=LM("local/run-1", backend=provider), cache=CallCache(tmp_path / "llm.sqlite")):
        assert Predict("q -> answer")(q="same").answer == "v1"
        assert Predict("q -> answer")(q="same").answer == "v1"  # the same weights: from the cache
        (checkpoint / "model.safetensors").write_bytes(b"weights v2, retrained")
        assert Predict("q -> answer")(q="same").answer == "v1 again"  # new weights: asked again
