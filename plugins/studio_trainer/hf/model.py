"""A Hugging Face causal LM with the studio model's interface, so generation, sampling
with a record, the local provider, the Inspector and the quantizer's measures take it
as they take a studio GPT.

``HFCausalLM`` is a view of the transformers model (``.hf``): it shares its modules, so
its state dict has transformers' names, and it adds nothing to its weights:

* ``config``: ``block_size`` (the context), ``vocab_size``, ``n_layer``, ``n_head``,
  ``n_kv_head``, ``n_embd``, ``family``;
* ``forward(idx, targets)`` → ``(logits, loss)`` as ``GPT.forward``: with targets, logits
  for every position and the mean cross-entropy (``-100`` ignored); without, the last
  position's logits only;
* ``generate(...)``: ``GPT.generate``'s signature and sampling (``GPT._choose``: the same
  temperature, top-k and recorder), over transformers' own key/value cache;
* the Inspector's hook points (``docs/DESIGN-NOTES.md`` note 73), found in the module tree
  by name rather than per family (:func:`find_layout`): ``blocks`` (the decoder layers),
  each with ``attn`` (``self_attn`` in Llama-like families), ``attn.proj`` (``o_proj`` /
  ``c_proj``: its input is the heads side by side), ``attn.n_head``,
  ``attn.attention_weights(x)``, ``mlp`` and ``mlp.proj`` (``down_proj`` / ``c_proj``);
  ``ln_f`` (the final norm; ``norm_kind`` says LayerNorm or RMSNorm) and ``lm_head``.
  The aliases live in the modules' ``__dict__``, not as child modules, so the state dict
  and saved folders keep transformers' names.

Attention maps: the model runs under an attention function registered with transformers
(``studio``, :func:`studio_attention`): scaled dot-product attention as usual, or, for the
modules an inspection asks about, the same attention computed explicitly so its
probabilities can be kept. It sees queries and keys after RoPE and covers grouped-query
attention (keys repeated to the query heads), so every family that uses transformers'
attention interface gets maps, with no per-family code.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from torch.nn import functional as F

ATTENTION = "studio"
#: attention modules (by id) whose probabilities are wanted → where to put them
_WANTED: ContextVar[dict[int, list] | None] = ContextVar("studio_attention_maps", default=None)

LAYER_LISTS = ("layers", "h", "blocks")
ATTENTION_NAMES = ("self_attn", "attn", "attention")
ATTENTION_OUT = ("o_proj", "c_proj", "out_proj", "dense")
MLP_NAMES = ("mlp", "feed_forward")
MLP_OUT = ("down_proj", "c_proj", "fc2", "dense_4h_to_h", "w2")
FINAL_NORMS = ("norm", "ln_f", "final_layernorm", "final_layer_norm")


@dataclass
class HFShape:
    """The studio-side view of a transformers config."""

    block_size: int
    vocab_size: int
    n_layer: int
    n_head: int
    n_kv_head: int
    n_embd: int
    family: str
    dtype: str = "float32"


@dataclass
class Layout:
    """Where the hook points are in a transformers model."""

    base: nn.Module  # the decoder stack (LlamaModel, GPT2Model…)
    layers: nn.ModuleList
    attn: str
    attn_out: str
    mlp: str
    mlp_out: str
    norm: nn.Module
    rotary: nn.Module | None


class LayoutError(ValueError):
    """A model whose module tree does not have the parts the studio hooks into."""


def _child(module: nn.Module, names: tuple[str, ...]) -> tuple[str, nn.Module] | None:
    for name in names:
        found = getattr(module, name, None)
        if isinstance(found, nn.Module):
            return name, found
    return None


def find_layout(hf: Any) -> Layout:
    """The decoder layers, their attention and MLP with the output projections, the final
    norm and the rotary embedding (if any), by the names transformers' causal LMs use."""
    base = hf.get_decoder() if hasattr(hf, "get_decoder") else None
    if not isinstance(base, nn.Module):
        base = getattr(hf, "model", None) or getattr(hf, "transformer", None)
    if not isinstance(base, nn.Module):
        raise LayoutError(f"{type(hf).__name__} has no decoder stack (model / transformer)")
    layers = _child(base, LAYER_LISTS)
    if layers is None or not isinstance(layers[1], nn.ModuleList) or len(layers[1]) == 0:
        raise LayoutError(f"{type(base).__name__} has no list of decoder layers ({', '.join(LAYER_LISTS)})")
    first = layers[1][0]
    attn, mlp = _child(first, ATTENTION_NAMES), _child(first, MLP_NAMES)
    if attn is None or mlp is None:
        raise LayoutError(f"{type(first).__name__} has no attention or MLP part the studio knows")
    attn_out, mlp_out = _child(attn[1], ATTENTION_OUT), _child(mlp[1], MLP_OUT)
    norm = _child(base, FINAL_NORMS)
    if attn_out is None or mlp_out is None or norm is None:
        raise LayoutError(f"{type(first).__name__}: no attention or MLP output projection, or no final norm")
    rotary = getattr(base, "rotary_emb", None)
    return Layout(
        base=base,
        layers=layers[1],
        attn=attn[0],
        attn_out=attn_out[0],
        mlp=mlp[0],
        mlp_out=mlp_out[0],
        norm=norm[1],
        rotary=rotary if isinstance(rotary, nn.Module) else None,
    )


class HFCausalLM(nn.Module):
    """A transformers causal LM seen as a studio model (see the module docstring)."""

    hf: Any  # the transformers model (PreTrainedModel), kept out of the module tree

    def __init__(self, hf: Any, family: str = "", dtype: str = "float32"):
        super().__init__()
        # a view of ``hf``, not a parent: the same child modules, parameters and buffers, so
        # names (state dict, LoRA targets, the quantizer's layers) are transformers' own
        # ("model.layers.0.self_attn.q_proj"), and a change through either is seen by both
        self.__dict__["hf"] = hf
        self._modules = hf._modules
        self._parameters = hf._parameters
        self._buffers = hf._buffers
        self.layout = find_layout(hf)
        c = hf.config
        heads = int(c.num_attention_heads)
        self.config = HFShape(
            block_size=int(getattr(c, "max_position_embeddings", None) or getattr(c, "n_positions", None) or 2048),
            vocab_size=int(c.vocab_size),
            n_layer=len(self.layout.layers),
            n_head=heads,
            n_kv_head=int(getattr(c, "num_key_value_heads", None) or heads),
            n_embd=int(c.hidden_size),
            family=family or str(getattr(c, "model_type", "")),
            dtype=dtype,
        )
        self.gradient_checkpointing = False
        # transformers 5 renamed past_key_values to cache (the old name warns, then goes)
        self._cache_keyword = "cache" if "cache" in inspect.signature(hf.forward).parameters else "past_key_values"
        self.annotate()

    def train(self, mode: bool = True) -> HFCausalLM:
        super().train(mode)  # the shared children
        self.hf.training = mode  # and the transformers model itself (not a child of this view)
        return self

    # ------------------------------------------------------------ the Inspector's hook points

    def annotate(self) -> None:
        """(Re)point the aliases the Inspector reads (after LoRA swaps a projection, say)."""
        layout = self.layout
        for index, layer in enumerate(layout.layers):
            attn, mlp = getattr(layer, layout.attn), getattr(layer, layout.mlp)
            layer.__dict__["attn"] = attn
            attn.__dict__["proj"] = getattr(attn, layout.attn_out)
            attn.__dict__["n_head"] = self.config.n_head
            attn.__dict__["attention_weights"] = functools.partial(self.attention_weights, index)
            mlp.__dict__["proj"] = getattr(mlp, layout.mlp_out)

    @property
    def blocks(self) -> nn.ModuleList:
        return self.layout.layers

    @property
    def ln_f(self) -> nn.Module:
        return self.layout.norm

    @property
    def norm_kind(self) -> str:
        """ "layer" (LayerNorm: centred, with a bias) or "rms" (RMSNorm: scaled only)."""
        return "layer" if isinstance(self.layout.norm, nn.LayerNorm) else "rms"

    @property
    def lm_head(self) -> nn.Module:
        return self.hf.get_output_embeddings()

    def positions(self, x: torch.Tensor) -> dict[str, Any]:
        """Keywords a decoder layer or attention module needs besides its input ``x`` (B, T, C)
        for positions 0..T-1: the position ids and, for RoPE families, the rotary embedding."""
        pos = torch.arange(x.size(1), device=x.device).unsqueeze(0)
        extra: dict[str, Any] = {"position_ids": pos, "attention_mask": None}
        if self.layout.rotary is not None:
            extra["position_embeddings"] = self.layout.rotary(x, pos)
        return extra

    @torch.no_grad()
    def attention_weights(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """Layer ``layer``'s attention probabilities (B, H, T, T) for its input ``x`` (B, T, C)
        or (T, C): the attention module run alone at positions 0..T-1, causal."""
        if x.dim() == 2:
            x = x.unsqueeze(0)
        attn = getattr(self.layout.layers[layer], self.layout.attn)
        x = x.to(next(attn.parameters()).dtype)
        with attention_maps([attn]) as maps:
            attn(hidden_states=x, **self.positions(x))
        return maps[0][0]

    def keep_attention_maps(self) -> contextlib.AbstractContextManager[list[list[torch.Tensor]]]:
        """While inside, every layer's attention keeps the probabilities (B, H, T, S) the pass
        itself computes (one list per layer): maps of a whole forward pass without re-running
        any attention. Only under the ``studio`` attention function (how ``load_hf`` loads)."""
        return attention_maps([getattr(layer, self.layout.attn) for layer in self.layout.layers])

    @torch.no_grad()
    def run_block(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """Decoder layer ``layer`` on its input ``x`` (B, T, C) at positions 0..T-1."""
        out = self.layout.layers[layer](x, **self.positions(x))
        return out[0] if isinstance(out, tuple) else out

    # ------------------------------------------------------------ the studio model's interface

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        if idx.size(1) > self.config.block_size:
            raise ValueError(f"sequence of {idx.size(1)} tokens is longer than the context ({self.config.block_size})")
        if targets is None:
            return self.hf(input_ids=idx, use_cache=False, logits_to_keep=1).logits, None
        logits = self.hf(input_ids=idx, use_cache=False).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-100)
        return logits, loss

    def num_params(self, non_embedding: bool = True) -> int:
        return sum(p.numel() for p in self.parameters())

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
        recorder=None,
        use_cache: bool = True,
        stop_ids: frozenset[int] = frozenset(),
    ) -> torch.Tensor:
        """``GPT.generate`` over transformers' key/value cache. ``stop_ids``: more tokens that
        end the reply (a chat model's end-of-turn); past the context, each token recomputes
        the last context-long window."""
        from transformers import DynamicCache

        from ..model.gpt import GPT

        block = self.config.block_size
        stops = set(stop_ids) | ({stop_id} if stop_id is not None else set())
        if recorder is not None:
            recorder.begin(max_new_tokens, self.config.vocab_size, idx.device)
        cache = DynamicCache(config=self.hf.config) if use_cache and idx.size(1) < block else None
        seen = 0  # positions already in the cache
        for _ in range(max_new_tokens):
            if cache is not None and idx.size(1) <= block:
                out = self.hf(input_ids=idx[:, seen:], use_cache=True, logits_to_keep=1, **{self._cache_keyword: cache})
                seen = idx.size(1)
            else:
                cache = None
                out = self.hf(input_ids=idx[:, -block:], use_cache=False, logits_to_keep=1)
            nxt = GPT._choose(out.logits[:, -1, :].float(), temperature, top_k, generator, recorder)
            idx = torch.cat((idx, nxt), dim=1)
            token = int(nxt[0, 0])
            if (on_token is not None and on_token(token)) or token in stops:
                break
        return idx


# ---------------------------------------------------------------- attention with kept maps


@contextlib.contextmanager
def attention_maps(modules: list[nn.Module]) -> Iterator[list[list[torch.Tensor]]]:
    """While inside, each of ``modules`` computes its attention explicitly and appends its
    probabilities (B, H, T, S) to its list (the yielded lists, in order)."""
    slots: list[list[torch.Tensor]] = [[] for _ in modules]
    token = _WANTED.set({id(m): slot for m, slot in zip(modules, slots, strict=True)})
    try:
        yield slots
    finally:
        _WANTED.reset(token)


def studio_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """transformers' attention interface: SDPA, or explicit for a module whose maps are wanted."""
    wanted = _WANTED.get()
    slot = wanted.get(id(module)) if wanted else None
    if slot is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    groups = query.size(1) // key.size(1)
    if groups > 1:  # grouped-query attention: each key/value head serves `groups` query heads
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    scale = scaling if scaling is not None else query.size(-1) ** -0.5
    B, H, T, D = query.shape
    S = key.size(2)
    bias = _additive_mask(attention_mask, T, S, query.device)
    if bias.dim() == 2 or bias.shape[:2] == (1, 1):  # one mask for every head: mask + scale q k^T in one pass
        scores = torch.baddbmm(
            bias.reshape(T, S).expand(B * H, T, S),
            query.float().reshape(B * H, T, D),
            key.float().reshape(B * H, S, D).transpose(-2, -1),
            alpha=scale,
        ).view(B, H, T, S)
    else:
        scores = torch.matmul(query.float(), key.float().transpose(-2, -1)) * scale + bias
    weights = torch.softmax(scores, dim=-1)
    slot.append(weights)
    out = torch.matmul(weights.to(value.dtype), value).transpose(1, 2).contiguous()
    return out, weights


def _additive_mask(attention_mask: torch.Tensor | None, queries: int, keys: int, device: torch.device) -> torch.Tensor:
    """The mask as values added to the scores (0 or -inf): causal when none is given (the
    queries are the last of the keys' positions), else the given one."""
    if attention_mask is None:
        return torch.full((queries, keys), float("-inf"), device=device).triu_(keys - queries + 1)
    if attention_mask.dtype == torch.bool:
        mask = attention_mask[..., :keys]
        return torch.zeros(mask.shape, device=device).masked_fill_(~mask, float("-inf"))
    return attention_mask[..., :keys].float()


_registered = False


def register_attention() -> str:
    """Register :func:`studio_attention` (and SDPA's mask) with transformers, once; returns its name."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

        AttentionInterface.register(ATTENTION, studio_attention)
        AttentionMaskInterface.register(ATTENTION, sdpa_mask)
        _registered = True
    return ATTENTION
