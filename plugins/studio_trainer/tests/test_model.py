"""The GPT decoder and its attention types: causal, differentiable, registry-driven."""

from __future__ import annotations

import pytest
import torch

from studio_trainer.config import ModelConfig
from studio_trainer.model import registry
from studio_trainer.model.gpt import GPT
from studio_trainer.model.summary import estimate_params, summarize
from studio_trainer.model.xcorr import CrossCorrelationAttention, lagged

ATTENTIONS = ["causal", "xcorr"]


def xcorr(block: torch.nn.Module) -> CrossCorrelationAttention:
    """A block's cross-correlation attention."""
    assert isinstance(block.attn, CrossCorrelationAttention)
    return block.attn


def make(attention: str, **kw) -> GPT:
    torch.manual_seed(0)
    config = ModelConfig(n_layer=2, n_head=2, n_embd=16, block_size=12, vocab_size=11, attention=attention, **kw)
    return GPT(config).eval()


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_changing_a_future_token_never_changes_an_earlier_output(attention):
    model = make(attention, xcorr_lags=3)
    if attention == "xcorr":  # make every lag matter, not only lag 0
        with torch.no_grad():
            for block in model.blocks:
                xcorr(block).lag_weight.uniform_(-1, 1)
    idx = torch.randint(0, 11, (3, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        base, _ = model(idx, idx)
        for t in range(12):
            changed = idx.clone()
            changed[:, t] = (changed[:, t] + 1 + torch.arange(3)) % 11
            out, _ = model(changed, changed)
            assert torch.equal(out[:, :t], base[:, :t]), f"position {t} leaked into earlier outputs"
            assert not torch.allclose(out[:, t:], base[:, t:]), "the changed token had no effect at all"


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_gradients_reach_every_parameter(attention):
    model = make(attention).train()
    idx = torch.randint(0, 11, (2, 12))
    _, loss = model(idx, idx)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []
    if attention == "xcorr":
        grad = xcorr(model.blocks[0]).lag_weight.grad
        assert grad is not None and grad[:, 1:].abs().sum() > 0  # non-zero lags learn too


def test_xcorr_starts_as_standard_attention_and_computes_the_lagged_sum():
    std, xc = make("causal"), make("xcorr", xcorr_lags=3)
    xc.load_state_dict(std.state_dict(), strict=False)  # same weights; lag weights (1, 0, 0)
    idx = torch.randint(0, 11, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(xc(idx, idx)[0], std(idx, idx)[0], rtol=1e-4, atol=1e-5)  # other kernels, other sums
    # the stacked computation equals the definition, sum_tau w_tau q_{i-tau} . k_{j-tau}
    q, k = torch.randn(1, 1, 5, 4), torch.randn(1, 1, 5, 4)
    w = torch.tensor([0.5, -1.0, 2.0])
    stacked = (lagged(q, 3) * w.view(1, 1, 1, 3, 1)).flatten(3) @ lagged(k, 3).flatten(3).transpose(-1, -2)
    for i in range(5):
        for j in range(5):
            direct = sum(w[t] * (q[0, 0, i - t] @ k[0, 0, j - t]) for t in range(3) if i - t >= 0 and j - t >= 0)
            assert torch.isclose(stacked[0, 0, i, j], torch.as_tensor(direct, dtype=torch.float32), atol=1e-5)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_gradient_checkpointing_gives_the_same_gradients(attention):
    idx = torch.randint(0, 11, (2, 12))
    grads = []
    for checkpointing in (False, True):
        model = make(attention).train()
        model.gradient_checkpointing = checkpointing
        model(idx, idx)[1].backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)


def test_summary_counts_match_the_model():
    for attention in ATTENTIONS:
        model = make(attention)
        summary = summarize(model, batch_size=4)
        assert summary.total_params == sum(p.numel() for p in model.parameters())
        assert sum(n for _, n in summary.layers) == summary.total_params
        assert summary.total_params == estimate_params(model.config, 11)
        assert summary.flops_per_token > 6 * summary.total_params * 0.5
        assert "tied to wte" in summary.table()
    assert summarize(make("xcorr")).flops_per_token > summarize(make("causal")).flops_per_token


def test_bad_configs_are_explained():
    with pytest.raises(ValueError, match="multiple of n_head"):
        ModelConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match=r"unknown attention type 'nope'.*causal, xcorr"):
        GPT(ModelConfig(vocab_size=5, attention="nope"))
    with pytest.raises(ValueError, match="longer than the context"):
        make("causal")(torch.zeros(1, 13, dtype=torch.long))


PLUGIN_ATTENTION = '''
import torch, torch.nn as nn
from studio.api import ModelPart, hookimpl

class MeanAttention(nn.Module):
    """Every position attends uniformly to itself and the past (a causal running mean)."""
    def __init__(self, config):
        super().__init__()
        self.proj = nn.Linear(config.n_embd, config.n_embd)
    def forward(self, x):
        csum = x.cumsum(1)
        count = torch.arange(1, x.size(1) + 1, device=x.device).view(1, -1, 1)
        return self.proj(csum / count)

@hookimpl
def studio_model_parts():
    return [ModelPart("mean", "attention", "Running mean", "mean_attention_plugin:MeanAttention")]
'''


def test_a_plugin_adds_an_attention_type_through_the_hook(plugin_distribution):
    plugin_distribution(
        "mean-attention", {"meanattn": "mean_attention_plugin"}, {"mean_attention_plugin": PLUGIN_ATTENTION}
    )
    assert "mean" in [p.id for p in registry.parts("attention")]
    model = GPT(ModelConfig(n_layer=1, n_head=1, n_embd=8, block_size=8, vocab_size=5, attention="mean"))
    assert type(model.blocks[0].attn).__name__ == "MeanAttention"
    idx = torch.randint(0, 5, (1, 8))
    model(idx, idx)[1].backward()
