"""A GPT-style decoder in one file, after nanoGPT: token + position embeddings, pre-LayerNorm
residual blocks (attention, GELU MLP), a final LayerNorm and a head tied to the embedding.

Attention and block types come from the registry (``registry.py``), so a plugin can swap in
its own without touching this file. ``forward(idx, targets)`` returns ``(logits, loss)``:
with targets, logits for every position and the mean cross-entropy (``-100`` targets are
ignored, which is how prompt tokens and padding are left out of fine-tuning losses).
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
import torch.nn as nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

from ..config import ModelConfig
from . import registry
from .kv_cache import KVCache, attached, supports_cache
from .recording import StepRecorder


class CausalSelfAttention(nn.Module):
    """Standard multi-head causal attention through ``scaled_dot_product_attention``
    (flash / memory-efficient kernels where the device has them)."""

    #: computes from a key/value cache while generating (``kv_cache.py``); a subclass that
    #: overrides ``project`` must implement ``project_cached`` and declare this again
    caches_kv = True
    #: set by ``kv_cache.attached`` for the duration of a cached generation
    kv_cache: KVCache | None = None

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_head = config.n_head
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v as (B, heads, T, head_dim)."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        shape = (B, T, self.n_head, C // self.n_head)
        return (q.view(shape).transpose(1, 2), k.view(shape).transpose(1, 2), v.view(shape).transpose(1, 2))

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """What the scores are made of: ``(q, k, v, scale)`` with score(i, j) = scale * q_i . k_j.
        A subclass that only changes how queries and keys are formed (cross-correlation)
        overrides this alone, and inherits the forward pass and the inspector's maps."""
        q, k, v = self.heads(x)
        return q, k, v, 1.0 / math.sqrt(v.size(-1))

    def project_cached(self, x: torch.Tensor, cache: KVCache) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """``project`` for the new positions ``x`` after ``cache.pos`` stored ones: the new
        queries, and the keys and values of every position so far."""
        q, k, v = self.heads(x)
        return q, cache.extend(self, "k", k), cache.extend(self, "v", v), 1.0 / math.sqrt(v.size(-1))

    def merge(self, y: torch.Tensor) -> torch.Tensor:
        """Heads' outputs (B, H, T, D) → the residual stream: head h feeds ``proj``'s input
        columns h*D:(h+1)*D, which is where the inspector reads and ablates single heads."""
        B, H, T, D = y.shape
        return self.resid_dropout(self.proj(y.transpose(1, 2).reshape(B, T, H * D)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cache = self.kv_cache
        if cache is not None:
            q, k, v, scale = self.project_cached(x, cache)
            y = F.scaled_dot_product_attention(q, k, v, scale=scale, **cache.attention_options(x.size(1), x.device))
            return self.merge(y)
        q, k, v, scale = self.project(x)
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, scale=scale, dropout_p=self.dropout if self.training else 0.0
        )
        return self.merge(y)

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The attention probabilities ``forward`` uses, as (B, H, T, T) (rows: queries),
        computed explicitly (the fused kernel never forms them). Part of the registry's
        attention interface: an attention type that has maps implements it."""
        q, k, _v, scale = self.project(x)
        *lead, T, D = q.shape
        future = torch.full((T, T), float("-inf"), device=q.device).triu_(1)  # the causal mask, added
        # mask + scale * q k^T in one pass over the T x T scores (no separate scale or fill)
        scores = torch.baddbmm(
            future.expand(q[..., 0, 0].numel(), T, T),
            q.float().reshape(-1, T, D),
            k.float().reshape(-1, T, D).transpose(-2, -1),
            alpha=scale,
        )
        return torch.softmax(scores, dim=-1).view(*lead, T, T)


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm residual block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, config: ModelConfig, layer_index: int = 0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = registry.make_attention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.vocab_size <= 0:
            raise ValueError("the model needs a vocabulary size (take it from the tokenizer)")
        self.config = config
        self.gradient_checkpointing = False
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(registry.make_block(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one matrix reads and writes tokens
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by depth
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        return n - self.wpe.weight.numel() if non_embedding else n

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        T = idx.shape[1]
        if self.config.block_size < T:
            raise ValueError(f"sequence of {T} tokens is longer than the context ({self.config.block_size})")
        pos = torch.arange(T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.blocks:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)  # recompute activations in backward
            else:
                x = block(x)
        x = self.ln_f(x)
        if targets is None:
            return self.lm_head(x[:, [-1], :]), None  # only the last position is needed to sample
        logits = self.lm_head(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-100)
        return logits, loss

    def _step(self, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Logits (B, 1, V) of the last of the new positions ``idx`` (B, T), which follow
        ``cache.pos`` cached ones: ``forward`` with a position offset and a cache."""
        T = idx.shape[1]
        pos = torch.arange(cache.pos, cache.pos + T, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.blocks:
            x = block(x)
        cache.advance(T)
        return self.lm_head(self.ln_f(x[:, [-1], :]))

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        stop_id: int | None = None,
        on_token=None,
        recorder: StepRecorder | None = None,
        use_cache: bool = True,
        stop_ids: frozenset[int] = frozenset(),
    ) -> torch.Tensor:
        """Sample ``max_new_tokens`` after ``idx`` (B, T); ``on_token(id)`` sees each new token
        of the first sequence (streaming) and may return True to stop. ``temperature`` 0 is
        greedy (the likeliest token); ``top_k`` None or 0 keeps every token. ``recorder``
        (``recording.StepRecorder``) keeps each token's log-probability, top alternatives
        and entropy. ``stop_ids``: more tokens that end the sample, as ``stop_id`` does.
        ``use_cache``: keys and values of past positions are kept (``kv_cache``)
        where every part of the model supports it, until the context is full; from then on
        (absolute positions shift) each token recomputes the window, as without a cache."""
        block_size = self.config.block_size
        cache = KVCache(block_size) if use_cache and idx.size(1) <= block_size and supports_cache(self) else None
        if recorder is not None:
            recorder.begin(max_new_tokens, self.config.vocab_size, idx.device)
        with attached(self, cache) if cache is not None else nullcontext():
            for _ in range(max_new_tokens):
                if cache is not None and idx.size(1) <= block_size:
                    logits = self._step(idx[:, cache.pos :], cache)
                else:
                    if cache is not None:  # the context is full: positions shift from here on
                        cache = None
                        for block in self.blocks:
                            block.attn.__dict__.pop("kv_cache", None)
                    logits, _ = self(idx[:, -block_size:])
                nxt = self._choose(logits[:, -1, :].float(), temperature, top_k, generator, recorder)
                idx = torch.cat((idx, nxt), dim=1)
                token = int(nxt[0, 0])
                if (on_token is not None and on_token(token)) or token == stop_id or token in stop_ids:
                    break
        return idx

    @staticmethod
    def _choose(logits, temperature, top_k, generator, recorder) -> torch.Tensor:
        """The next token (B, 1) from the last position's float logits (B, V)."""
        if temperature <= 0:
            nxt = logits.argmax(dim=-1, keepdim=True)
        else:
            scaled = logits / temperature
            if top_k:
                v, _ = torch.topk(scaled, min(top_k, scaled.size(-1)))
                scaled[scaled < v[:, [-1]]] = -float("inf")
            nxt = torch.multinomial(F.softmax(scaled, dim=-1), num_samples=1, generator=generator)
        if recorder is not None:  # the model's own distribution, before temperature and top-k
            recorder.record(logits[0], nxt[0])
        return nxt
