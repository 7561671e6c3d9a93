"""Learning-rate schedule: linear warmup, then cosine decay to ``min_lr`` at the last step;
and how a run's warmup and validation fit its length (``plan``).

No torch here: the Trainer panel shows the plan of the settings in its form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import TrainParams

#: a warmup longer than half the run is a setting meant for a longer run: it is cut to a tenth
WARMUP_SHARE = 10  # a tenth
#: a run whose validation interval is longer than the run is validated this many times instead
MIN_EVALS = 4


def lr_at(step: int, *, max_lr: float, min_lr: float, warmup: int, total: int) -> float:
    if step < warmup:
        return max_lr * (step + 1) / (warmup + 1)
    if step >= total:
        return min_lr
    progress = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)


@dataclass(frozen=True)
class Plan:
    """What a run uses: the settings, shortened where they are meant for a longer run.

    * warmup: a warmup over half of ``max_steps`` becomes a tenth of it (200 warmup steps
      in a 100-step run would leave the learning rate rising all run: it warms up over 10
      steps instead);
    * validation: an interval longer than the run becomes ``max_steps // MIN_EVALS`` (else
      only the last step is validated), and each evaluation reads at most as many batches
      as the training between two evaluations does (``eval_interval * grad_accum``): never
      more eval than training.

    Settings that fit the run are used as given, even unusual ones (a warmup of 40% of the
    run; one validation at the end with ``eval_interval == max_steps``): benchmarks and
    comparisons with other trainers depend on that.
    """

    warmup: int
    eval_interval: int
    eval_iters: int
    changes: tuple[str, ...]  # what was shortened and why, in words (empty: the settings as given)
    brief: tuple[str, ...] = ()  # the same, short: "warmup 20 steps, not 200"

    def describe(self, max_steps: int) -> str:
        """One line for the run's log."""
        line = (
            f"schedule: warmup {self.warmup} steps, cosine decay to step {max_steps}; "
            f"validation every {self.eval_interval} steps on {self.eval_iters} batches"
        )
        return line + (f" ({'; '.join(self.changes)})" if self.changes else "")


def plan(p: TrainParams) -> Plan:
    steps, changes, brief = p.max_steps, [], []
    warmup = steps // WARMUP_SHARE if 2 * p.warmup_steps > steps else p.warmup_steps
    if warmup != p.warmup_steps:
        changes.append(
            f"warmup_steps {p.warmup_steps} shortened to {warmup}, a tenth of this {steps}-step run "
            "(it was over half of it), so the learning rate peaks and decays"
        )
        brief.append(f"warmup {warmup} steps, not {p.warmup_steps}")
    interval = max(1, steps // MIN_EVALS) if p.eval_interval > steps else p.eval_interval
    if interval != p.eval_interval:
        changes.append(
            f"eval_interval {p.eval_interval} shortened to {interval}: "
            "longer than the run, it would validate only at its end"
        )
        brief.append(f"validation every {interval} steps, not {p.eval_interval}")
    iters = min(p.eval_iters, interval * p.grad_accum)
    if iters != p.eval_iters:
        changes.append(
            f"eval_iters {p.eval_iters} lowered to {iters}: no more validation batches than training batches"
        )
        brief.append(f"{iters} validation batches, not {p.eval_iters}")
    return Plan(warmup, interval, iters, tuple(changes), tuple(brief))
