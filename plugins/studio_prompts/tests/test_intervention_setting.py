"""A model call's ``intervention`` setting: only for local studio/ models (refused when a
workflow loads and before a call), recorded on the ``llm`` span and shown in Details, and
part of the cache key through the file's content."""

from __future__ import annotations

from typing import Any

import pytest

from studio_prompts import LM, Collector, LMError, Predict, context
from studio_prompts.cache import CallCache
from studio_prompts.workflow.graph import load_workflow
from studio_prompts.workflow.schema import WorkflowError

from .helpers import open_one_question_node, predict_node, write_workflow


def local_model(calls: list):
    """Stands in for the trainer's provider: says which intervention it applied."""

    def complete(model, messages, intervention=None, **params):
        calls.append(intervention)
        reply: dict[str, Any] = {"choices": [{"message": {"content": "answer: Paris"}, "finish_reason": "stop"}]}
        if intervention:
            reply["studio_intervention"] = {"file": intervention, "summary": "ablate L1H0 (zero)"}
        return reply

    return complete


@pytest.fixture
def file(tmp_path):
    path = tmp_path / "ablate.json"
    path.write_text('{"format": "studio.intervention/1", "interventions": []}')
    return path


def test_the_span_records_the_intervention_and_the_cache_sees_the_file_change(tmp_path, file):
    calls: list = []
    lm = LM("studio/run-1", backend=local_model(calls), intervention=str(file))
    trace = Collector()
    with context(lm=lm, tracer=trace, cache=CallCache(tmp_path / "c.sqlite")):
        Predict("q -> answer")(q="x")
        Predict("q -> answer")(q="x")  # the same file: from the cache
        file.write_text('{"format": "studio.intervention/1", "interventions": [{"kind": "head"}]}')
        Predict("q -> answer")(q="x")  # changed: asked again
    assert calls == [str(file), str(file)]
    spans = [s for s in trace.spans if s["kind"] == "llm"]
    assert [s["cache_hit"] for s in spans] == [False, True, False]
    assert all(s["intervention"] == {"file": str(file), "summary": "ablate L1H0 (zero)"} for s in spans)
    from studio_prompts.qt.trace_panel import render_details

    assert f"ablate L1H0 (zero) — {file}" in render_details(spans[0])


def test_other_models_refuse_an_intervention(tmp_path, file):
    remote_lm = LM("openai/gpt-4o-mini", backend=local_model([]), intervention=str(file))
    with context(lm=remote_lm), pytest.raises(LMError, match=r"intervention applies to local studio/.*models only"):
        Predict("q -> answer")(q="x")
    node = predict_node("country -> capital", {"country": "input.country"}, config={"intervention": str(file)})
    kwargs = {"nodes": {"ask": node}, "inputs": {"country": "str"}, "outputs": {"capital": "ask.capital"}}
    remote = write_workflow(tmp_path / "remote.workflow.json", model={"model": "openai/gpt-4o-mini"}, **kwargs)
    with pytest.raises(WorkflowError, match=r"node 'ask': intervention applies to local studio/.*models only"):
        load_workflow(remote)
    as_model = {"model": "openai/gpt-4o-mini", "intervention": str(file)}
    bad = write_workflow(
        tmp_path / "bad.workflow.json",
        model=as_model,
        **{**kwargs, "nodes": {"ask": {**node, "params": {"signature": "country -> capital"}}}},
    )
    with pytest.raises(WorkflowError, match=r"intervention applies to local studio/.*models only"):
        load_workflow(bad)
    local = write_workflow(tmp_path / "local.workflow.json", model={"model": "studio/run-1"}, **kwargs)
    predictor = load_workflow(local).predictors["ask"]
    assert isinstance(predictor, Predict) and predictor.config == {"intervention": str(file)}


def test_the_node_inspector_sets_an_intervention(editor, tmp_path, file, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    inspector = open_one_question_node(editor, tmp_path)
    assert inspector.intervention.text() == ""
    # Browse… keeps a file inside the workspace relative to it
    monkeypatch.setenv("TENSOR_STUDIO_WORKSPACE", str(tmp_path))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(file), "")))
    inspector.browse_intervention.click()
    assert inspector.intervention.text() == file.name
    assert inspector.commit() is True
    assert editor.doc.to_spec().nodes["ask"].params["config"] == {"intervention": file.name}
    editor.select_node("ask")
    assert inspector.intervention.text() == file.name
    inspector.intervention.clear()
    assert inspector.commit() is True
    assert not editor.doc.to_spec().nodes["ask"].params.get("config")
