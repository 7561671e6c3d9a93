"""Generation with a key/value cache and a per-token record: the same tokens as without the
cache, and log-probabilities that a full forward pass recomputes."""

from __future__ import annotations

import pytest
import torch

from studio_trainer.config import ModelConfig
from studio_trainer.model.gpt import GPT, CausalSelfAttention
from studio_trainer.model.kv_cache import KVCache, attached, supports_cache
from studio_trainer.model.recording import StepRecorder
from studio_trainer.model.xcorr import CrossCorrelationAttention

from .test_model import PLUGIN_ATTENTION

VOCAB, CONTEXT = 29, 20


def make(attention: str, **kw) -> GPT:
    torch.manual_seed(0)
    config = ModelConfig(
        n_layer=2, n_head=2, n_embd=24, block_size=CONTEXT, vocab_size=VOCAB, attention=attention, xcorr_lags=3, **kw
    )
    model = GPT(config).eval()
    with torch.no_grad():  # a random model repeats one token: strong positions make replies vary
        model.wpe.weight.mul_(10)
        if attention == "xcorr":  # every lag matters, not only lag 0
            for block in model.blocks:
                assert isinstance(block.attn, CrossCorrelationAttention)
                block.attn.lag_weight.uniform_(-1, 1)
    return model


@pytest.fixture(scope="module", params=["causal", "xcorr"])
def model(request) -> GPT:
    return make(request.param)


PROMPT = torch.tensor([[3, 1, 4, 1, 5, 9, 2]])


def full_logprobs(model: GPT, ids: torch.Tensor) -> torch.Tensor:
    """log p(ids[t] | ids[<t]) for t >= 1 by one forward pass over the whole sequence."""
    logits, _ = model(ids, ids)
    return torch.log_softmax(logits.float(), -1)[0, :-1].gather(-1, ids[0, 1:, None])[:, 0]


def test_the_cache_is_used_and_a_chunked_prefill_matches_the_full_pass(model):
    assert supports_cache(model)
    ids = torch.randint(0, VOCAB, (2, 12), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full, _ = model(ids, ids)
        cache = KVCache(CONTEXT)
        with attached(model, cache):
            first = model._step(ids[:, :5], cache)  # prefill
            middle = model._step(ids[:, 5:9], cache)  # several new positions after a past: explicit mask
            last = model._step(ids[:, 9:], cache)
    assert cache.pos == 12
    assert "kv_cache" not in model.blocks[0].attn.__dict__  # taken back
    for got, t in ((first, 4), (middle, 8), (last, 11)):
        torch.testing.assert_close(got[:, 0], full[:, t], atol=1e-5, rtol=1e-5)


def test_greedy_replies_are_identical_with_and_without_the_cache_past_the_context(model):
    n = CONTEXT + 8  # runs past the context: the cached path recomputes windows from there
    records = [StepRecorder(), StepRecorder()]
    plain = model.generate(PROMPT, n, temperature=0.0, recorder=records[0], use_cache=False)
    cached = model.generate(PROMPT, n, temperature=0.0, recorder=records[1])
    assert torch.equal(plain, cached)
    assert len(set(cached[0, PROMPT.size(1) :].tolist())) > 2  # not one token repeated
    a, b = records[0].result(), records[1].result()
    assert a.ids == b.ids == cached[0, PROMPT.size(1) :].tolist()
    torch.testing.assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.tensor(a.entropy), torch.tensor(b.entropy), atol=1e-4, rtol=0)


def test_seeded_sampling_draws_the_same_tokens_with_and_without_the_cache(model):
    draws = [
        model.generate(PROMPT, 15, 1.0, 8, generator=torch.Generator().manual_seed(5), use_cache=use)
        for use in (False, True)
    ]
    assert torch.equal(*draws)


def test_the_record_matches_a_full_forward_pass(model):
    recorder = StepRecorder(top_k=5)
    out = model.generate(PROMPT, CONTEXT - PROMPT.size(1), temperature=0.0, recorder=recorder)
    steps = recorder.result()
    assert len(steps) == CONTEXT - PROMPT.size(1)
    with torch.no_grad():
        expected = full_logprobs(model, out)[PROMPT.size(1) - 1 :]
        logp = torch.log_softmax(model(out, out)[0].float(), -1)[0, PROMPT.size(1) - 1 : -1]
    torch.testing.assert_close(torch.tensor(steps.logprobs), expected, atol=1e-4, rtol=0)
    top = logp.topk(5)
    assert steps.top_ids == top.indices.tolist()  # greedy: the chosen token is the likeliest
    assert [row[0] for row in steps.top_ids] == steps.ids
    torch.testing.assert_close(torch.tensor(steps.top_logprobs), top.values, atol=1e-4, rtol=0)
    entropy = -(logp.exp() * logp).sum(-1)
    torch.testing.assert_close(torch.tensor(steps.entropy), entropy, atol=1e-4, rtol=0)


def test_sampled_tokens_are_scored_before_temperature_and_top_k():
    model = make("causal")
    recorder = StepRecorder()
    out = model.generate(PROMPT, 10, 2.5, 3, generator=torch.Generator().manual_seed(1), recorder=recorder)
    with torch.no_grad():
        expected = full_logprobs(model, out)[PROMPT.size(1) - 1 :]
    torch.testing.assert_close(torch.tensor(recorder.result().logprobs), expected, atol=1e-4, rtol=0)


def test_parts_without_cache_support_generate_by_recomputing(plugin_distribution):
    plugin_distribution(
        "mean-attention", {"meanattn": "mean_attention_plugin"}, {"mean_attention_plugin": PLUGIN_ATTENTION}
    )
    mean = make("mean")
    assert not supports_cache(mean)
    recorder = StepRecorder()
    out = mean.generate(PROMPT, 6, temperature=0.0, recorder=recorder)
    expected = PROMPT
    for _ in range(6):  # the definition: the argmax of a full forward pass each step
        expected = torch.cat((expected, mean(expected)[0][:, -1].argmax(-1, keepdim=True)), dim=1)
    assert torch.equal(out, expected)
    assert len(recorder.result()) == 6

    class Shifted(CausalSelfAttention):  # overrides project without implementing the cache
        def project(self, x):
            return super().project(x.roll(1, dims=1))

    shifted = make("causal")
    assert supports_cache(shifted)
    shifted.blocks[1].attn.__class__ = Shifted
    assert not supports_cache(shifted)
    replaced = make("causal")
    replaced.blocks[0].attn.__dict__["forward"] = lambda x: x  # as an inspection's capture does for a while
    assert not supports_cache(replaced)
    hooked = make("causal")
    handle = hooked.blocks[0].register_forward_hook(lambda *a: None)  # hooks may expect whole sequences
    assert not supports_cache(hooked)
    handle.remove()
    assert supports_cache(hooked)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random char model saved as a checkpoint (no training: only the plumbing is tested)."""
    from studio_trainer.data.tokenizer import CharTokenizer
    from studio_trainer.train.checkpoint import save_checkpoint

    from .conftest import TEXT

    tokenizer = CharTokenizer.train([TEXT])
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layer=2, n_head=2, n_embd=24, block_size=40, vocab_size=tokenizer.vocab_size))
    with torch.no_grad():
        model.wpe.weight.mul_(10)
    return save_checkpoint(tmp_path_factory.mktemp("gen") / "ckpt", model, tokenizer, step=0, val_loss=None)


def test_the_local_provider_returns_openai_logprobs_and_the_token_ids(checkpoint):
    from studio_trainer.provider import TOKENS_FIELD, complete
    from studio_trainer.train.checkpoint import load_checkpoint

    messages = [{"role": "user", "content": "All:"}]
    reply = complete(f"studio/{checkpoint}", messages, max_tokens=20, temperature=0.0)
    choice, tokens = reply["choices"][0], reply[TOKENS_FIELD]
    content, text = choice["logprobs"]["content"], choice["message"]["content"]
    assert len(content) == reply["usage"]["completion_tokens"] == len(tokens["reply_ids"]) == len(tokens["entropy"])
    assert len(content) == 20 and "".join(c["token"] for c in content) == text
    assert tokens["prompt"] == "All:\n" and "".join(tokens["prompt_tokens"]) == "All:\n"
    assert tokens["context"] == 40  # the checkpoint's block_size: a record can say what the model saw
    assert all(len(c["top_logprobs"]) == 20 and c["top_logprobs"][0]["token"] == c["token"] for c in content)
    assert all(bytes(c["bytes"]).decode() == c["token"] for c in content)
    model, _, _ = load_checkpoint(checkpoint)
    ids = torch.tensor([tokens["prompt_ids"] + tokens["reply_ids"]])
    with torch.no_grad():
        expected = full_logprobs(model, ids)[len(tokens["prompt_ids"]) - 1 :]
    torch.testing.assert_close(torch.tensor([c["logprob"] for c in content]), expected, atol=1e-4, rtol=0)

    stop = text[6:8]
    cut = complete(f"studio/{checkpoint}", messages, max_tokens=20, temperature=0.0, stop=[stop])
    kept = cut["choices"][0]["logprobs"]["content"]
    assert cut["choices"][0]["finish_reason"] == "stop"
    assert "".join(c["token"] for c in kept) == cut["choices"][0]["message"]["content"] == text[: text.index(stop)]
    assert cut[TOKENS_FIELD]["reply_ids"] == tokens["reply_ids"][: len(kept)]
    assert cut["usage"]["completion_tokens"] == len(kept)


def test_a_token_straddling_the_stop_string_is_left_out():
    from studio_trainer.provider import tokens_within

    class Pieces:  # multi-character tokens, as a BPE has
        def decode(self, ids):
            return "".join(["ab", "cd", "ef"][i] for i in ids)

    assert tokens_within(Pieces(), [0, 1, 2], "abcdef") == 3
    assert tokens_within(Pieces(), [0, 1, 2], "abcd") == 2
    assert tokens_within(Pieces(), [0, 1, 2], "abc") == 1  # "cd" is cut in half: left out
    assert tokens_within(Pieces(), [0, 1, 2], "") == 0
