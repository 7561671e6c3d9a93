"""A Hugging Face folder as a workflow's model (``hf/<folder>``): answered in-process by the
trainer's provider through the hook, the messages rendered by the model's chat template,
the call's tokens recorded, and the call cache keyed on the folder's files."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import studio_trainer.hooks as trainer_hooks
from studio.api import TokenRecord
from studio.testing import tiny_hf_model
from studio_prompts import Collector, context
from studio_prompts.cache import CallCache
from studio_prompts.workflow.graph import NodeError, load_workflow


def one_node_workflow(folder: Path, model: str) -> Path:
    node = {
        "type": "prompts.predict",
        "title": "",
        "inputs": {"q": "input.q"},
        "params": {"signature": "q -> answer", "config": {"max_tokens": 4}},
    }
    workflow = {
        "format": "tensor-studio.workflow",
        "version": 1,
        "name": "hf",
        "description": "",
        "model": {"model": model, "temperature": 0},
        "inputs": {"q": {"type": "str"}},
        "outputs": {"answer": "ask.answer"},
        "nodes": {"ask": node},
        "layout": {},
    }
    path = folder / "hf.workflow.json"
    path.write_text(json.dumps(workflow))
    return path


def run(path: Path, cache: CallCache, tokens: Path) -> list[dict]:
    trace = Collector()
    # a random model's reply need not parse: the call, and its span, are what is checked
    with context(tracer=trace, cache=cache, tokens_dir=tokens), contextlib.suppress(NodeError):
        load_workflow(path)(q="why")
    calls = [s for s in trace.spans if s["kind"] == "llm"]
    assert calls and all(s.get("error") is None for s in calls), calls
    return calls


def test_a_hugging_face_folder_answers_a_workflow_through_its_chat_template(make_studio, tmp_path):
    make_studio(("trainer", trainer_hooks))  # the hf/ provider, through the hook
    folder = tiny_hf_model(tmp_path / "chat-model", family="qwen2")
    model = f"hf/{folder}"
    path = one_node_workflow(tmp_path, model)
    cache = CallCache(tmp_path / "llm-cache.sqlite")
    first = run(path, cache, tmp_path / "tensors")
    llm = first[0]
    assert llm["model"] == model and not llm.get("cache_hit")
    assert llm["token_record"] == f"tensors/{llm['id']}.json"
    record = TokenRecord.load(tmp_path / llm["token_record"])
    # the model read the turns its chat template renders, and the reply is what it sampled
    assert "<|im_start|>user" in record.prompt and record.prompt.rstrip().endswith("<|im_start|>assistant")
    assert "why" in record.prompt and record.prompt_ids and record.prompt_tokens
    assert record.model == model and record.context == 128
    assert "".join(record.reply_tokens) == llm["reply"] and 0 < len(record) <= 4

    # the same call again: answered from the cache
    again = run(path, cache, tmp_path / "tensors")
    assert all(s.get("cache_hit") for s in again) and again[0]["reply"] == llm["reply"]

    # a file of the folder changed (weights replaced, a template edited): asked again
    config = folder / "generation_config.json"
    config.write_text(config.read_text())
    stamp = config.stat().st_mtime_ns + 10**9
    os.utime(config, ns=(stamp, stamp))
    changed = run(path, cache, tmp_path / "tensors")
    assert not changed[0].get("cache_hit") and changed[0]["reply"] == llm["reply"]  # greedy: same reply
