"""Batches for a training step, drawn reproducibly so a resumed run sees the same data.

``TokenBatches`` samples random windows of a token stream (nanoGPT's sampler) from its
own ``torch.Generator``: the generator's state *is* the data position, saved in every
checkpoint. ``PairBatches`` serves prompt–response pairs: grouped into buckets of similar
length, each batch padded only to its own longest pair (dynamic padding), prompt tokens
and padding masked out of the loss with ``-100``; its position is (epoch, index).
"""

from __future__ import annotations

import torch


class TokenBatches:
    def __init__(self, tokens: torch.Tensor, block_size: int, batch_size: int, seed: int, name: str = "train"):
        if tokens.numel() <= block_size + 1:
            raise ValueError(
                f"the {name} split has {tokens.numel():,} tokens, not more than the context length + 1 "
                f"({block_size + 1}); use more text, a shorter context or a different validation fraction"
            )
        self.tokens = tokens
        self.block_size = block_size
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        # Every window of block_size + 1 tokens, as a view (nothing is copied), so a batch is
        # one row gather. Indexing the stream with a (batch, block) grid of offsets gave the
        # same batches but cost 15 % of a CUDA-graphs training step on an H100 (BENCHMARKS.md).
        self._windows = tokens.unfold(0, block_size + 1, 1)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        starts = torch.randint(self.tokens.numel() - self.block_size - 1, (self.batch_size,), generator=self.generator)
        rows = torch.index_select(self._windows, 0, starts)
        return rows[:, :-1], rows[:, 1:]

    def state(self) -> dict[str, torch.Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["generator"])


class PairBatches:
    def __init__(
        self,
        pairs: list[tuple[list[int], list[int]]],
        batch_size: int,
        block_size: int,
        pad_id: int,
        seed: int,
        bucket_size: int = 8,
    ):
        self.examples = []
        for prompt, response in pairs:
            ids = (prompt + response)[: block_size + 1]
            labels = ([-100] * len(prompt) + response)[: block_size + 1]
            if len(ids) >= 2 and any(label != -100 for label in labels[1:]):
                self.examples.append((ids, labels))
        if not self.examples:
            raise ValueError("no prompt/response pair leaves a response token inside the context length")
        self.batch_size = batch_size
        self.pad_id = pad_id
        self.seed = seed
        self.bucket_size = bucket_size
        self.epoch, self.index = 0, 0
        self._plan = self._batches_of_epoch(0)

    def _batches_of_epoch(self, epoch: int) -> list[list[int]]:
        """Shuffle, sort within windows of ``bucket_size`` batches by length, cut into batches,
        shuffle the batches: uniform lengths inside a batch, random order across batches."""
        g = torch.Generator().manual_seed(self.seed + epoch)
        order = torch.randperm(len(self.examples), generator=g).tolist()
        window = self.batch_size * self.bucket_size
        batches = []
        for start in range(0, len(order), window):
            chunk = sorted(order[start : start + window], key=lambda i: len(self.examples[i][0]))
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        return [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.index >= len(self._plan):
            self.epoch, self.index = self.epoch + 1, 0
            self._plan = self._batches_of_epoch(self.epoch)
        members = [self.examples[i] for i in self._plan[self.index]]
        self.index += 1
        length = max(len(ids) for ids, _ in members) - 1
        x = torch.full((len(members), length), self.pad_id, dtype=torch.long)
        y = torch.full((len(members), length), -100, dtype=torch.long)
        for row, (ids, labels) in enumerate(members):
            n = len(ids) - 1
            x[row, :n] = torch.tensor(ids[:-1])
            y[row, :n] = torch.tensor(labels[1:])
        return x, y

    def state(self) -> dict[str, torch.Tensor]:
        return {"position": torch.tensor([self.epoch, self.index], dtype=torch.long)}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.epoch, self.index = (int(v) for v in state["position"])
        self._plan = self._batches_of_epoch(self.epoch)
