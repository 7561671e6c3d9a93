"""Per-token data of a generation, taken from the logits the sampler already has.

For each generated token (of the first sequence): its log-probability under the model's
own distribution (``log_softmax`` of the raw logits, before temperature and top-k, so a
sampled reply is scored as the model sees it), the ``k`` likeliest alternatives and the
entropy. The numbers stay on the device in preallocated tensors while generating (no
host sync per token beyond the one sampling already makes) and become lists once, at
the end: recording costs a few small kernels per token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Steps:
    """What ``StepRecorder.result`` returns: one entry per generated token."""

    ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    top_ids: list[list[int]] = field(default_factory=list)  # likeliest first
    top_logprobs: list[list[float]] = field(default_factory=list)
    entropy: list[float] = field(default_factory=list)  # nats

    def __len__(self) -> int:
        return len(self.ids)

    def truncated(self, n: int) -> Steps:
        """The first ``n`` steps (a reply cut at a stop string or an end-of-text token)."""
        return Steps(self.ids[:n], self.logprobs[:n], self.top_ids[:n], self.top_logprobs[:n], self.entropy[:n])


class StepRecorder:
    """Pass one to ``GPT.generate(recorder=...)``; read ``result()`` afterwards."""

    def __init__(self, top_k: int = 20):
        self.top_k = top_k
        self.n = 0
        self._ids: torch.Tensor | None = None

    def begin(self, max_steps: int, vocab_size: int, device: torch.device) -> None:
        k = min(self.top_k, vocab_size)
        self.n = 0
        self._ids = torch.zeros(max_steps, dtype=torch.long, device=device)
        self._logprobs = torch.zeros(max_steps, device=device)
        self._top_ids = torch.zeros(max_steps, k, dtype=torch.long, device=device)
        self._top_logprobs = torch.zeros(max_steps, k, device=device)
        self._neg_entropy = torch.zeros(max_steps, device=device)  # sum p log p

    def record(self, logits: torch.Tensor, token: torch.Tensor) -> None:
        """``logits``: the raw (V,) float logits of one step; ``token``: the chosen id (1,)."""
        assert self._ids is not None, "begin() first"
        i = self.n
        logp = torch.log_softmax(logits, dim=-1)
        # written in place into the preallocated rows: no allocation, no host sync
        torch.topk(logp, self._top_ids.size(1), out=(self._top_logprobs[i], self._top_ids[i]))
        self._ids[i : i + 1].copy_(token)
        torch.index_select(logp, 0, token, out=self._logprobs[i : i + 1])
        torch.sum(logp.exp() * logp, dim=-1, out=self._neg_entropy[i])
        self.n = i + 1

    def result(self) -> Steps:
        if self._ids is None or self.n == 0:
            return Steps()
        n = self.n
        return Steps(
            self._ids[:n].tolist(),
            self._logprobs[:n].float().tolist(),
            self._top_ids[:n].tolist(),
            self._top_logprobs[:n].float().tolist(),
            (-self._neg_entropy[:n]).float().tolist(),
        )
