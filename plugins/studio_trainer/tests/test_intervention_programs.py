"""Interventions carried into programs: a saved file (JSON + safetensors) that the local
provider applies while generating, with the key/value cache, and refuses clearly when bad."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from studio_trainer.config import ModelConfig
from studio_trainer.data.tokenizer import CharTokenizer
from studio_trainer.inspect import (
    HeadAblation,
    InterventionFileError,
    LayerAblation,
    ResidualPatch,
    Steering,
    applied,
    inspect_text,
    intervene,
    load_program,
    save_program,
    steering_from,
)
from studio_trainer.model.gpt import GPT
from studio_trainer.model.kv_cache import supports_cache
from studio_trainer.model.recording import StepRecorder
from studio_trainer.provider import INTERVENTION_FIELD, complete
from studio_trainer.train.checkpoint import save_checkpoint

TOKENIZER = CharTokenizer(list("abcdefghijklmnopqrstuvwxyz .,:\n"))
PROMPT = "all: we know"


def make(seed: int = 0, n_embd: int = 16) -> GPT:
    config = ModelConfig(n_layer=2, n_head=2, n_embd=n_embd, block_size=48, vocab_size=TOKENIZER.vocab_size)
    model = GPT(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # every weight random: every head matters
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * (0.3 if p.dim() > 1 else 0.2) + (p.dim() == 1) * 0.5)
    return model.eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("programs") / "ckpt"
    return save_checkpoint(folder, make(), TOKENIZER, step=1, val_loss=None)


def ask(checkpoint, **options):
    messages = [{"role": "user", "content": PROMPT}]
    return complete(f"studio/{checkpoint}", messages, max_tokens=8, temperature=0.0, **options)


def test_a_head_ablation_file_changes_the_reply_as_intervene_says(checkpoint, tmp_path):
    path = save_program(tmp_path / "ablate.json", [HeadAblation(1, 0)])
    data = json.loads(path.read_text())
    assert data["format"] == "studio.intervention/1" and data["interventions"][0]["kind"] == "head"
    plain, ablated = ask(checkpoint), ask(checkpoint, intervention=str(path))
    assert INTERVENTION_FIELD not in plain
    assert ablated[INTERVENTION_FIELD] == {"file": str(path), "summary": "ablate L1H0 (zero)"}
    first, first_plain = ablated["choices"][0]["logprobs"]["content"][0], plain["choices"][0]["logprobs"]["content"][0]
    assert [t["logprob"] for t in first["top_logprobs"]] != pytest.approx(
        [t["logprob"] for t in first_plain["top_logprobs"]], abs=1e-3
    )
    # the first generated token's distribution is intervene()'s "after" at the prompt's last position
    inspection = inspect_text(checkpoint, PROMPT + "\n")
    target = ablated["studio_tokens"]["reply_ids"][0]
    effect = intervene(inspection, [HeadAblation(1, 0)], position=-1, target_id=target)
    assert first["logprob"] == pytest.approx(effect.logprob_after, abs=1e-4)
    assert first_plain["top_logprobs"][0]["logprob"] == pytest.approx(float(inspection.top_logprobs[-1, 0]), abs=1e-4)
    for (token, prob), alt in zip(effect.top_after[:5], first["top_logprobs"][:5], strict=True):
        assert alt["token"] == token and alt["logprob"] == pytest.approx(float(torch.tensor(prob).log()), abs=1e-4)


def test_hooks_keep_the_key_value_cache_and_match_the_uncached_generation(tmp_path):
    model = make(seed=3)
    vector = torch.randn(16, generator=torch.Generator().manual_seed(1))
    items = [HeadAblation(0, 1), LayerAblation(1, "mlp"), Steering(0, vector, 2.0)]
    save_program(tmp_path / "p.json", [*items, HeadAblation(1, 1, "mean")], model, ids=TOKENIZER.encode(PROMPT))
    program = load_program(tmp_path / "p.json")
    assert program.summary() == "ablate L0H1 (zero); ablate L1 mlp (zero); steer L0 ×2; ablate L1H1 (mean)"
    idx = torch.tensor([TOKENIZER.encode(PROMPT)])

    def generate(**options) -> tuple[torch.Tensor, torch.Tensor]:
        recorder = StepRecorder(5)
        out = model.generate(idx, 10, temperature=0.0, recorder=recorder, **options)
        return out, torch.tensor(recorder.result().top_logprobs)

    plain, plain_lp = generate()
    with applied(model, program):
        assert supports_cache(model)  # every hook is position-wise
        cached, cached_lp = generate()
        uncached, uncached_lp = generate(use_cache=False)
    assert torch.equal(cached, uncached)
    assert torch.allclose(cached_lp, uncached_lp, atol=1e-4)
    assert not torch.allclose(cached_lp, plain_lp, atol=1e-2)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())  # removed
    # a zero-scale steering changes nothing
    with applied(model, [Steering(1, vector, 0.0)]):
        same, same_lp = generate()
    assert torch.equal(same, plain) and torch.allclose(same_lp, plain_lp, atol=1e-5)


def test_a_steering_direction_from_two_prompts(checkpoint, tmp_path):
    steering = steering_from(checkpoint, "speak, speak", "we know", layer=1, scale=0.0)
    assert steering.vector.shape == (16,) and steering.made_from["reduce"] == "mean"
    assert float(steering.vector.norm()) > 0
    path = save_program(tmp_path / "steer.json", [steering], make())
    assert (tmp_path / "steer.safetensors").is_file()
    zero = ask(checkpoint, intervention=str(path))
    plain = ask(checkpoint)
    assert zero["choices"][0]["message"] == plain["choices"][0]["message"]
    assert zero[INTERVENTION_FIELD]["summary"] == "steer L1 ×0"
    steering.scale = 6.0
    save_program(path, [steering], make())  # rewritten: the (path, mtime) cache reads it again
    strong = ask(checkpoint, intervention=str(path))
    assert strong[INTERVENTION_FIELD]["summary"] == "steer L1 ×6"
    assert strong["choices"][0]["logprobs"]["content"][0] != plain["choices"][0]["logprobs"]["content"][0]


def test_a_relative_path_is_in_the_active_workspace(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("TENSOR_STUDIO_WORKSPACE", str(tmp_path))
    save_program(tmp_path / "interventions" / "a.json", [LayerAblation(0, "attn")])
    reply = ask(checkpoint, intervention="interventions/a.json")
    assert reply[INTERVENTION_FIELD]["file"] == str(tmp_path / "interventions" / "a.json")


def test_bad_intervention_files_are_refused_naming_the_file(checkpoint, tmp_path):
    def refused(name: str, content: bytes | str | None, match: str) -> None:
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(InterventionFileError, match=match) as info:
            ask(checkpoint, intervention=str(path))
        assert str(path.with_suffix("")) in str(info.value)  # the file (or its numbers file) is named
        assert "\n" not in str(info.value)

    refused("missing.json", None, "does not exist")
    refused("corrupt.json", '{"format": ', "not valid JSON")
    refused("record.json", '{"format": "studio.token-record/1"}', r"not an intervention file.*token-record")
    refused("pickle.json", pickle.dumps({"format": "studio.intervention/1"}), "not a JSON text file|not valid JSON")
    numbers = tmp_path / "pickled.safetensors"
    numbers.write_bytes(pickle.dumps(torch.zeros(16)))
    refused(
        "pickled.json",
        json.dumps({"format": "studio.intervention/1", "tensors": numbers.name, "interventions": []}),
        "not a readable safetensors file",
    )
    wide = save_program(tmp_path / "wide.json", [HeadAblation(0, 0)], make(n_embd=32))
    with pytest.raises(InterventionFileError, match=r"made for a model with n_embd=32; .* has n_embd=16"):
        ask(checkpoint, intervention=str(wide))
    with pytest.raises(InterventionFileError, match="residual patch"):
        save_program(tmp_path / "patch.json", [ResidualPatch(1, 2, "hi")])
    refused(
        "patch.json",
        json.dumps(
            {"format": "studio.intervention/1", "interventions": [{"kind": "patch", "layer": 1, "position": 2}]}
        ),
        "residual patch is tied to one prompt's positions",
    )
    refused(
        "range.json",
        json.dumps({"format": "studio.intervention/1", "interventions": [{"kind": "head", "layer": 0, "head": 7}]}),
        "head 7 is out of range",
    )
