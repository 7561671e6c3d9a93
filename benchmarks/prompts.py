"""Prompt-engine benchmarks (issue 4), each against a baseline measured in the same run.

1. Framework overhead per Predict call with an in-process zero-latency model (the model
   function alone is the baseline): untraced, traced to memory, traced into a job's
   event log. DSPy's Predict with its DummyLM side by side when ``dspy`` is importable.
2. A chain of 50 predictors (a Module calling 50 Predicts; a 50-node workflow): total
   overhead per chain.
3. Fan-out: a workflow of 16 independent predictors on a 200 ms model → wall / 200 ms.
4. 256 calls at concurrency 16 on a 20 ms model (an evaluation) → wall / ideal (320 ms).
3 and 4 run twice: an in-process async model (the engine alone), and the OpenAI-compatible
test server through litellm's real HTTP client — with litellm alone (the same requests,
``litellm.acompletion`` under ``asyncio.gather``) as the baseline, since litellm's own
per-call cost is not ours to remove.

    .venv/bin/python benchmarks/prompts.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENAI_API_KEY", "sk-benchmark")

from studio_prompts import LM, Collector, Example, Module, Predict, configure, context  # noqa: E402
from studio_prompts.evaluate import evaluate  # noqa: E402
from studio_prompts.trace import Tracer  # noqa: E402
from studio_prompts.workflow import Workflow, WorkflowFile  # noqa: E402

REPLY_TEXT = "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]"
REPLY = {
    "choices": [{"message": {"content": REPLY_TEXT}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 3},
}


def zero_latency(model, messages, **params):
    return REPLY


def best_of(fn, repeats: int, n: int) -> float:
    """Best per-call seconds over ``repeats`` rounds of ``n`` calls (the least disturbed)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def bench_overhead(quick: bool, dspy_python: str | None = None) -> dict:
    from studio.runtime.context import RunContext

    repeats, n = (3, 2000) if quick else (7, 5000)
    model_alone = best_of(lambda: zero_latency("m", []), repeats, n)
    predict = Predict("question -> answer")
    results = {"model_function_us": model_alone * 1e6}
    configure(lm=LM("zero", backend=zero_latency))
    for label, tracer in (("untraced", None), ("traced_memory", Collector())):
        configure(tracer=tracer)
        per_call = best_of(lambda: predict(question="What is the capital of France?"), repeats, n)
        results[f"{label}_us"] = (per_call - model_alone) * 1e6
        if tracer is not None:
            tracer.spans.clear()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext("bench", Path(tmp), lambda batch: None)
        configure(tracer=Tracer(lambda record: ctx.span(**record)))
        per_call = best_of(lambda: predict(question="What is the capital of France?"), repeats, n)
        results["traced_job_log_us"] = (per_call - model_alone) * 1e6
        ctx.close()
    configure(tracer=None)
    results["dspy"] = bench_dspy(dspy_python, repeats, n)
    return results


DSPY_SNIPPET = r"""
import json, sys, time
import dspy
from dspy.utils.dummies import DummyLM
repeats, n = int(sys.argv[1]), int(sys.argv[2])
dspy.configure(lm=DummyLM([{"answer": "Paris"}] * (repeats * n + 10)))
predict = dspy.Predict("question -> answer")
best = float("inf")
for _ in range(repeats):
    t0 = time.perf_counter()
    for _ in range(n):
        predict(question="What is the capital of France?")
    best = min(best, (time.perf_counter() - t0) / n)
print(json.dumps({"version": dspy.__version__, "predict_us": best * 1e6}))
"""


def bench_dspy(python: str | None, repeats: int, n: int) -> dict | None:
    """DSPy's Predict with its DummyLM (no network), in the interpreter that has dspy
    installed (``--dspy-python``; by default this one, if it can import dspy)."""
    python = python or sys.executable
    proc = subprocess.run(
        [python, "-c", DSPY_SNIPPET, str(repeats), str(max(200, n // 5))],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "DSPY_CACHEDIR": tempfile.mkdtemp()},
    )
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Chain(Module):
    def __init__(self, length: int):
        self.steps = [Predict("question -> answer") for _ in range(length)]

    def forward(self, question):
        for step in self.steps:
            question = step(question=question).answer
        return question


def chain_workflow(length: int) -> Workflow:
    nodes = {}
    for i in range(length):
        source = "input.question" if i == 0 else f"n{i - 1}.answer"
        nodes[f"n{i}"] = {
            "type": "prompts.predict",
            "inputs": {"question": source},
            "params": {"signature": "question -> answer"},
        }
    return Workflow(
        WorkflowFile(name="chain", inputs={"question": {}}, outputs={"answer": f"n{length - 1}.answer"}, nodes=nodes)
    )


def bench_chain(quick: bool) -> dict:
    repeats, n = (3, 20) if quick else (7, 50)
    model_alone = best_of(lambda: zero_latency("m", []), 5, 1000)
    out = {}
    configure(lm=LM("zero", backend=zero_latency))
    chain = Chain(50)
    for label, tracer in (("module_untraced", None), ("module_traced", Collector())):
        configure(tracer=tracer)
        out[f"{label}_ms"] = (best_of(lambda: chain(question="q"), repeats, n) - 50 * model_alone) * 1e3
    workflow = chain_workflow(50)

    async def run_workflow(times: int) -> float:
        best = float("inf")
        for _ in range(times):
            t0 = time.perf_counter()
            await workflow.acall(question="q")
            best = min(best, time.perf_counter() - t0)
        return best

    async def async_zero(model, messages, **params):
        return REPLY

    configure(lm=LM("zero", backend=async_zero), tracer=Collector())
    out["workflow_traced_ms"] = asyncio.run(run_workflow(repeats * 5)) * 1e3  # in one event loop
    configure(tracer=None)
    return out


def fan_out_workflow(width: int) -> Workflow:
    nodes = {
        f"b{i}": {
            "type": "prompts.predict",
            "inputs": {"question": "input.question"},
            "params": {"signature": "question -> answer"},
        }
        for i in range(width)
    }
    return Workflow(
        WorkflowFile(
            name="fan", inputs={"question": {}}, outputs={f"a{i}": f"b{i}.answer" for i in range(width)}, nodes=nodes
        )
    )


async def run_fan_out(lm: LM, width: int) -> float:
    workflow = fan_out_workflow(width)
    with context(lm=lm, limiter=asyncio.Semaphore(width), tracer=Collector()):
        t0 = time.perf_counter()
        await workflow.acall(question="q")
        return time.perf_counter() - t0


async def run_eval(lm: LM, calls: int, concurrency: int) -> float:
    dataset = [Example(question=f"q{i}", answer="Paris").with_inputs("question") for i in range(calls)]
    with context(lm=lm, tracer=Collector()):
        t0 = time.perf_counter()
        result = await evaluate(Predict("question -> answer"), dataset, "exact_match", concurrency=concurrency)
        elapsed = time.perf_counter() - t0
    assert result.score == 1.0, result.summary()
    return elapsed


async def litellm_alone(url: str, calls: int, concurrency: int) -> float:
    import litellm

    slots = asyncio.Semaphore(concurrency)
    messages = Predict("question -> answer").messages({"question": "q"}, "chat")

    async def one():
        async with slots:
            await litellm.acompletion(
                model="openai/fake",
                messages=messages,
                api_base=url,
                num_retries=0,
                timeout=120,
                api_key=os.environ["OPENAI_API_KEY"],
            )

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return time.perf_counter() - t0


@contextlib.contextmanager
def server_process(latency: float):
    """The OpenAI-compatible test server in its own process (it must not share our GIL)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "studio.fake_llm", "--reply", REPLY_TEXT, "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bench_concurrency(quick: bool) -> dict:
    def sleeping(seconds: float):
        async def model(model, messages, **params):
            await asyncio.sleep(seconds)
            return REPLY

        return model

    def best(coro_fn, repeats):
        return min(asyncio.run(coro_fn()) for _ in range(repeats))

    repeats = 2 if quick else 5
    out: dict = {"in_process": {}, "http_litellm": {}}
    out["in_process"]["fan_out_16x200ms_s"] = best(lambda: run_fan_out(LM("slow", backend=sleeping(0.2)), 16), repeats)
    out["in_process"]["calls_256_at_16x20ms_s"] = best(
        lambda: run_eval(LM("slow", backend=sleeping(0.02)), 256, 16), repeats
    )
    with server_process(0.2) as url:
        lm = LM("openai/fake", api_base=url)
        asyncio.run(run_fan_out(lm, 2))  # import litellm, open connections
        out["http_litellm"]["fan_out_16x200ms_s"] = best(lambda: run_fan_out(lm, 16), repeats)
        out["http_litellm"]["litellm_alone_16x200ms_s"] = best(lambda: litellm_alone(url, 16, 16), repeats)
    with server_process(0.02) as url:
        lm = LM("openai/fake", api_base=url)
        out["http_litellm"]["calls_256_at_16x20ms_s"] = best(lambda: run_eval(lm, 256, 16), repeats)
        out["http_litellm"]["litellm_alone_256_at_16x20ms_s"] = best(lambda: litellm_alone(url, 256, 16), repeats)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--dspy-python", default=None, help="a Python with dspy installed, for the side-by-side")
    args = parser.parse_args(argv)
    results = {
        "overhead": bench_overhead(args.quick, args.dspy_python),
        "chain": bench_chain(args.quick),
        "concurrency": bench_concurrency(args.quick),
    }
    o, c, cc = results["overhead"], results["chain"], results["concurrency"]
    ip, http = cc["in_process"], cc["http_litellm"]
    dspy = o["dspy"]
    rows = [
        (
            "Predict overhead, untraced",
            f"{o['untraced_us']:.1f} us",
            f"model fn {o['model_function_us']:.2f} us",
            "",
            "<= 30 us",
        ),
        ("Predict overhead, traced (memory)", f"{o['traced_memory_us']:.1f} us", "", "", "<= 30 us"),
        ("Predict overhead, traced (job log)", f"{o['traced_job_log_us']:.1f} us", "", "", "<= 30 us"),
        (
            "DSPy Predict (DummyLM), same run",
            f"{dspy['predict_us']:.0f} us" if dspy else "not installed",
            f"dspy {dspy['version']}" if dspy else "",
            f"{dspy['predict_us'] / o['traced_job_log_us']:.1f}x ours" if dspy else "",
            "report",
        ),
        ("chain of 50 Predicts (Module), untraced", f"{c['module_untraced_ms']:.2f} ms", "", "", "<= 2 ms"),
        ("chain of 50 Predicts (Module), traced", f"{c['module_traced_ms']:.2f} ms", "", "", "<= 2 ms"),
        ("chain of 50 nodes (workflow), traced", f"{c['workflow_traced_ms']:.2f} ms", "", "", "report"),
        (
            "fan-out 16 x 200 ms, in-process",
            f"{ip['fan_out_16x200ms_s'] * 1000:.0f} ms",
            "ideal 200 ms",
            f"{ip['fan_out_16x200ms_s'] / 0.2:.3f}x",
            "<= 1.15x",
        ),
        (
            "256 calls @16 x 20 ms, in-process",
            f"{ip['calls_256_at_16x20ms_s'] * 1000:.0f} ms",
            "ideal 320 ms",
            f"{ip['calls_256_at_16x20ms_s'] / 0.32:.3f}x",
            "<= 1.10x",
        ),
        (
            "fan-out 16 x 200 ms, HTTP via litellm",
            f"{http['fan_out_16x200ms_s'] * 1000:.0f} ms",
            f"litellm alone {http['litellm_alone_16x200ms_s'] * 1000:.0f} ms",
            (
                f"{http['fan_out_16x200ms_s'] / 0.2:.3f}x ideal, "
                f"{http['fan_out_16x200ms_s'] / http['litellm_alone_16x200ms_s']:.3f}x litellm"
            ),
            "<= 1.15x",
        ),
        (
            "256 calls @16 x 20 ms, HTTP via litellm",
            f"{http['calls_256_at_16x20ms_s'] * 1000:.0f} ms",
            f"litellm alone {http['litellm_alone_256_at_16x20ms_s'] * 1000:.0f} ms",
            (
                f"{http['calls_256_at_16x20ms_s'] / 0.32:.3f}x ideal, "
                f"{http['calls_256_at_16x20ms_s'] / http['litellm_alone_256_at_16x20ms_s']:.3f}x litellm"
            ),
            "<= 1.10x",
        ),
    ]
    print(f"\n{'prompt-engine benchmark':<42} {'result':<16} {'baseline (same run)':<28} {'ratio':<30} target")
    for row in rows:
        print(f"{row[0]:<42} {row[1]:<16} {row[2]:<28} {row[3]:<30} {row[4]}")
    out = ROOT / "benchmarks" / "prompts-results.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {out}")
    return results


if __name__ == "__main__":
    main()
