"""The trainer's checkpoints as a model of the prompt engine, through the provider hook
(in-process, no server): ``LM("studio/<run folder>")``."""

from __future__ import annotations

import studio_trainer.hooks as trainer_hooks
from studio.api import RunStatus, TokenRecord
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
    with context(lm=lm, tracer=trace, tokens_dir=tmp_path / "tensors"):
        Predict("question -> answer")(question="how?")  # loaded already
    assert len([s for s in trace.spans if s["kind"] == "load"]) == 1
    # a local model's call records its tokens, unasked (a job's tokens_dir is its run's tensors/)
    second = [s for s in trace.spans if s["kind"] == "llm"][-1]
    assert second["token_record"] == f"tensors/{second['id']}.json"
    record = TokenRecord.load(tmp_path / second["token_record"])
    assert "".join(record.reply_tokens) == second["reply"] and len(record) == second["tokens"]["completion"]
    assert record.prompt_tokens and record.prompt_ids and "how?" in record.prompt
    # the model as the call named it (the provider's resolved folder beside it), and its context:
    # the prompt is longer than the tiny model's 16 tokens, so it saw only the last 16
    assert record.model == lm.model and record.resolved_model.startswith("studio/")
    assert record.context == 16 and record.seen_from() == len(record.prompt_tokens) - 16 > 0
    assert record.entropy is not None and len(record.entropy) == len(record)
    assert len({len(top) for top in record.top_tokens}) == 1 and len(record.top_tokens[0]) >= 5  # top-k, k fixed
