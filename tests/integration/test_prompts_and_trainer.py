"""The trainer's checkpoints as a model of the prompt engine, through the provider hook
(in-process, no server): ``LM("studio/<run folder>")``."""

from __future__ import annotations

import studio_trainer.hooks as trainer_hooks
from studio.api import RunStatus
from studio_prompts import LM, Collector, Predict, context

from .tiny import TINY_TRAINING as TINY


def test_studio_checkpoint_answers_a_predictor(make_studio, run_job, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Question: why?\nAnswer: because.\n\n" * 200)
    studio = make_studio(("trainer", trainer_hooks))
    trained = run_job(studio, "trainer.train", {**TINY, "data": {"corpus": str(corpus)}})
    assert trained.status == RunStatus.SUCCEEDED, trained.error
    trace = Collector()
    lm = LM(f"studio/{trained.run.dir}", max_tokens=16, seed=0)
    with context(lm=lm, tracer=trace):
        out = Predict("question -> answer")(question="why?")  # a char model's bare reply fills the one field
    assert isinstance(out.answer, str)
    llm = next(s for s in trace.spans if s["kind"] == "llm")
    assert llm["model"].startswith("studio/") and llm["tokens"]["completion"] <= 16
    # the first call loaded the checkpoint: a load span of its own inside the call, and the
    # call's time split into loading and generating
    (load,) = [s for s in trace.spans if s["kind"] == "load"]
    assert load["parent"] == llm["id"] and 0 < load["duration"] <= llm["duration"]
    assert llm["load_time"] == load["duration"] and llm["generation_time"] > 0
    with context(lm=lm, tracer=trace):
        Predict("question -> answer")(question="how?")  # loaded already
    assert len([s for s in trace.spans if s["kind"] == "load"]) == 1
