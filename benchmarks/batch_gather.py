"""Cost of drawing one training batch (64 windows of 257 tokens from a 1M-token stream),
timed alone, for the ways a sampler can gather it (issue 3's GPU gap, BENCHMARKS.md):

* grid_index   — ``tokens[starts[:, None] + arange(257)]`` (the trainer's sampler before)
* unfold_index — ``tokens.unfold(0, 257, 1)[starts]``
* index_select — ``torch.index_select(tokens.unfold(0, 257, 1), 0, starts)`` (the trainer's now)
* stack_slices — ``torch.stack([tokens[i:i + 257] for i in starts])`` (nanoGPT's loop)

With every intra-op thread and with one; the CUDA context is created first when there is a
GPU, as in training.

    python benchmarks/batch_gather.py
"""

from __future__ import annotations

import time

import torch

BATCH, WINDOW, DRAWS = 64, 257, 300


def main() -> None:
    if torch.cuda.is_available():
        torch.zeros(1, device="cuda")
    tokens = torch.randint(0, 65, (1_003_854,))
    windows = tokens.unfold(0, WINDOW, 1)
    offsets = torch.arange(WINDOW)
    generator = torch.Generator().manual_seed(0)
    ways = {
        "grid_index": lambda s: tokens[s[:, None] + offsets],
        "unfold_index": lambda s: windows[s],
        "index_select": lambda s: torch.index_select(windows, 0, s),
        "stack_slices": lambda s: torch.stack([tokens[i : i + WINDOW] for i in s.tolist()]),
    }
    for threads in dict.fromkeys((torch.get_num_threads(), 1)):
        torch.set_num_threads(threads)
        for name, gather in ways.items():
            starts = torch.randint(tokens.numel() - WINDOW, (BATCH,), generator=generator)
            batch = gather(starts)
            reference = ways["grid_index"](starts)
            assert torch.equal(batch, reference), name
            for _ in range(50):
                gather(torch.randint(tokens.numel() - WINDOW, (BATCH,), generator=generator))
            started = time.perf_counter()
            for _ in range(DRAWS):
                gather(torch.randint(tokens.numel() - WINDOW, (BATCH,), generator=generator))
            print(f"{threads:>2} threads  {name:<13} {(time.perf_counter() - started) / DRAWS * 1e6:8.1f} µs")


if __name__ == "__main__":
    main()
