"""Recompute a recorded reply's log-probabilities from the windows generation saw.

``GPT.generate`` predicts the token at absolute index ``p`` from ``ids[max(0, p - bs):p]``
(``bs`` = the context): once the text outgrows the context every token has its own
window, with position embeddings counted from that window's start, so an inspection of
one window cannot reproduce them. This runs those windows (batched) instead."""

from __future__ import annotations

from typing import Any

BATCH = 16  # windows per forward pass


def window_logprobs(model: Any, ids: list[int], positions: list[int]) -> dict[int, float]:
    """{p: log p(ids[p] | ids[max(0, p - bs):p])} for each absolute index ``p`` (≥ 1)."""
    import torch
    from torch.nn import functional as F

    bs = int(model.config.block_size)
    found: dict[int, float] = {}
    early = [p for p in positions if 1 <= p <= bs and p < len(ids)]
    late = [p for p in positions if bs < p < len(ids)]
    model.eval()
    with torch.no_grad():
        if early:  # one pass over the first window: position p - 1 sees exactly ids[:p]
            head = torch.tensor([ids[: min(len(ids), bs)]], dtype=torch.long)
            logits, _ = model(head, head)  # targets: logits at every position
            logp = F.log_softmax(logits[0].float(), dim=-1)
            for p in early:
                found[p] = float(logp[p - 1, ids[p]])
        for at in range(0, len(late), BATCH):
            chunk = late[at : at + BATCH]
            batch = torch.tensor([ids[p - bs : p] for p in chunk], dtype=torch.long)
            logits, _ = model(batch)  # the last position's logits, as when sampling
            logp = F.log_softmax(logits[:, -1].float(), dim=-1)
            for row, p in enumerate(chunk):
                found[p] = float(logp[row, ids[p]])
    return found
