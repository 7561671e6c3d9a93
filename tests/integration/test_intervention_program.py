"""An intervention saved from the inspector, carried into a workflow: a node of a local
model names the file, the trainer's provider applies it, and the trace says which ran."""

from __future__ import annotations

import contextlib
import json

import torch

import studio_trainer.hooks as trainer_hooks
from studio_prompts import Collector, context
from studio_prompts.workflow.graph import NodeError, load_workflow
from studio_trainer.config import ModelConfig
from studio_trainer.data.tokenizer import CharTokenizer
from studio_trainer.inspect import HeadAblation, Steering, save_program
from studio_trainer.model.gpt import GPT
from studio_trainer.train.checkpoint import save_checkpoint

TOKENIZER = CharTokenizer(list("abcdefghijklmnopqrstuvwxyz .,:\n"))


def test_a_workflow_node_applies_an_intervention_and_the_span_records_it(make_studio, tmp_path):
    make_studio(("trainer", trainer_hooks))  # the studio/ provider, through the hook
    config = ModelConfig(n_layer=2, n_head=2, n_embd=16, block_size=64, vocab_size=TOKENIZER.vocab_size)
    model = GPT(config).eval()
    folder = save_checkpoint(tmp_path / "ckpt", model, TOKENIZER, step=1, val_loss=None)
    file = save_program(tmp_path / "steer.json", [HeadAblation(1, 0), Steering(1, torch.ones(16), 3.0)], model)
    node = {
        "type": "prompts.predict",
        "title": "",
        "inputs": {"q": "input.q"},
        "params": {"signature": "q -> answer", "config": {"intervention": str(file), "max_tokens": 4}},
    }
    workflow = {
        "format": "tensor-studio.workflow",
        "version": 1,
        "name": "steered",
        "description": "",
        "model": {"model": f"studio/{folder}", "temperature": 0},
        "inputs": {"q": {"type": "str"}},
        "outputs": {"answer": "ask.answer"},
        "nodes": {"ask": node},
        "layout": {},
    }
    path = tmp_path / "steered.workflow.json"
    path.write_text(json.dumps(workflow))
    trace = Collector()
    # an untrained model's reply need not parse: the call, and its span, are what is checked
    with context(tracer=trace, cache=None), contextlib.suppress(NodeError):
        load_workflow(path)(q="why")
    calls = [s for s in trace.spans if s["kind"] == "llm"]  # a repair call too, if the reply did not parse
    assert calls and all(s.get("error") is None for s in calls)
    for llm in calls:
        assert llm["intervention"] == {"file": str(file), "summary": "ablate L1H0 (zero); steer L1 ×3"}
        assert llm["params"]["intervention"] == str(file)
