"""The logit lens: every layer's residual stream through the final norm and the
unembedding, in chunks of positions so a large vocabulary × 4,096 tokens never forms one
huge logits matrix. The last layer's rows are the model's own prediction, from which the
tokens' log-probabilities, top-k and entropy are read too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

CHUNK_ELEMENTS = 1 << 23  # logits per chunk when they are computed here (32 MB of float32: large products)
GIVEN_CHUNK = 1 << 21  # when they are given: 8 MB, so the passes over a chunk stay in the cache


@dataclass
class Lens:
    top_ids: np.ndarray  # [L+1, T]
    top_prob: np.ndarray  # [L+1, T]
    target_rank: np.ndarray  # [L+1, T], -1 at the last position
    target_prob: np.ndarray  # [L+1, T], nan at the last position
    logprobs: np.ndarray  # [T]: log p(ids[t] | ids[<t]); nan at 0
    final_top_ids: np.ndarray  # [T, k]
    final_top_logprobs: np.ndarray  # [T, k]
    entropy: np.ndarray  # [T]
    final_logits_target: np.ndarray  # [T]: the final logit of the attribution target
    target_ids: np.ndarray  # [T]: next token, or the top prediction at the last position


@torch.no_grad()
def logit_lens(
    model: Any, resid: torch.Tensor, ids: torch.Tensor, top_k: int, final_logits: torch.Tensor | None = None
) -> Lens:
    """``resid`` [L+1, T, C], ``ids`` [T]. ``final_logits`` [T, V]: the last layer's logits
    as the forward pass computed them (the lens of the last row then costs no unembedding)."""
    layers, T, C = resid.shape
    ln_f, head = model.ln_f, model.lm_head
    rows = resid.reshape(layers * T, C)
    targets = torch.full((T,), -1, dtype=torch.long)
    targets[:-1] = ids[1:]
    all_targets = targets.repeat(layers)
    top_ids = torch.empty(layers * T, dtype=torch.long)
    top_prob = torch.empty(layers * T)
    target_rank = torch.full((layers * T,), -1, dtype=torch.long)
    target_logp = torch.full((layers * T,), float("nan"))
    vocab = head.weight.shape[0] if isinstance(head, nn.Linear) else None
    step = max(1, (GIVEN_CHUNK if final_logits is not None else CHUNK_ELEMENTS) // (vocab or 4096))
    k = min(top_k, vocab or top_k)  # no more alternatives than tokens (the rest would be uninitialized memory)
    final_top_ids = torch.zeros(T, k, dtype=torch.long)
    final_top_logp = torch.full((T, k), float("-inf"))
    entropy = torch.empty(T)
    final_target_logit = torch.empty(T)
    final_targets = targets.clone()
    for start in range(0, layers * T, step):
        stop = min(start + step, layers * T)
        if final_logits is not None and start >= (layers - 1) * T:
            logits = final_logits[start - (layers - 1) * T : stop - (layers - 1) * T].float()
        else:
            logits = head(ln_f(rows[start:stop])).float()
        tgt = all_targets[start:stop]
        has = tgt >= 0
        if start >= (layers - 1) * T:  # only the last layer's rows: everything from one log-softmax
            pos = slice(start - (layers - 1) * T, stop - (layers - 1) * T)
            lp = F.log_softmax(logits, dim=-1)
            values, indices = lp.topk(min(k, lp.size(-1)), dim=-1)
            final_top_ids[pos, : values.size(1)] = indices
            final_top_logp[pos, : values.size(1)] = values
            top_ids[start:stop] = indices[:, 0]
            top_prob[start:stop] = values[:, 0].exp()
            chosen = lp.gather(1, tgt.clamp_min(0).unsqueeze(1))
            target_logp[start:stop] = torch.where(has, chosen.squeeze(1), target_logp[start:stop])
            target_rank[start:stop] = torch.where(has, (lp > chosen).sum(dim=1), target_rank[start:stop])
            entropy[pos] = -(lp.exp() * lp).sum(dim=-1)
            tg = torch.where(has, tgt, indices[:, 0])
            final_targets[pos] = tg
            final_target_logit[pos] = logits.gather(1, tg.unsqueeze(1)).squeeze(1)
            continue
        # read from the logits and their log-sum-exp, not a log-softmax of every row: with a
        # 50k vocabulary over every layer these passes over memory cost as much as the matmul
        lse = torch.logsumexp(logits, dim=-1)
        best, best_id = logits.max(dim=-1)
        top_ids[start:stop] = best_id
        top_prob[start:stop] = (best - lse).exp()
        chosen = logits.gather(1, tgt.clamp_min(0).unsqueeze(1))  # [rows, 1]; rows without a target unused
        rank = (logits > chosen).sum(dim=1)
        target_logp[start:stop] = torch.where(has, chosen.squeeze(1) - lse, target_logp[start:stop])
        target_rank[start:stop] = torch.where(has, rank, target_rank[start:stop])
        final_from = max(start, (layers - 1) * T)  # rows of the last layer: the model's own prediction
        if stop > final_from:
            local = slice(final_from - start, stop - start)
            pos = slice(final_from - (layers - 1) * T, stop - (layers - 1) * T)
            lg = logits[local]
            lp = F.log_softmax(lg, dim=-1)
            values, indices = lp.topk(min(k, lp.size(-1)), dim=-1)
            final_top_ids[pos, : values.size(1)] = indices
            final_top_logp[pos, : values.size(1)] = values
            entropy[pos] = -(lp.exp() * lp).sum(dim=-1)
            tg = final_targets[pos].clone()
            tg[tg < 0] = lp.argmax(dim=-1)[tg < 0]
            final_targets[pos] = tg
            final_target_logit[pos] = lg.gather(1, tg.unsqueeze(1)).squeeze(1)
    target_logp_2d = target_logp.view(layers, T)
    logprobs = torch.full((T,), float("nan"))
    logprobs[1:] = target_logp_2d[-1, :-1]
    return Lens(
        top_ids=top_ids.view(layers, T).numpy(),
        top_prob=top_prob.view(layers, T).numpy(),
        target_rank=target_rank.view(layers, T).numpy(),
        target_prob=target_logp_2d.exp().numpy(),
        logprobs=logprobs.numpy(),
        final_top_ids=final_top_ids.numpy(),
        final_top_logprobs=final_top_logp.numpy(),
        entropy=entropy.numpy(),
        final_logits_target=final_target_logit.numpy(),
        target_ids=final_targets.numpy(),
    )


@torch.no_grad()
def layer_rows(model: Any, resid: torch.Tensor, ids: torch.Tensor) -> dict[str, np.ndarray]:
    """The lens of the layers in ``resid`` [L, T, C] (the last layer's comes with the
    inspection): "top_ids", "top_prob", "target_rank", "target_prob", each [L, T]."""
    if resid.size(0) == 0:
        T = resid.size(1)
        return {
            "top_ids": np.zeros((0, T), np.int64),
            "top_prob": np.zeros((0, T), np.float32),
            "target_rank": np.zeros((0, T), np.int64),
            "target_prob": np.zeros((0, T), np.float32),
        }
    lens = logit_lens(model, resid, ids, 1)
    return {
        "top_ids": lens.top_ids,
        "top_prob": lens.top_prob,
        "target_rank": lens.target_rank,
        "target_prob": lens.target_prob,
    }
