"""The β ladder: a whole spectrum of information budgets in one training run.

Training one model per β is the paper's main cost (Murphy, arXiv 2602.04784, §5). A ladder
run (``beta.schedule: ladder``) instead walks β through ``beta.milestones``::

    epochs  [0, W)            initial phase: the warm-up ramp (``beta.ramp`` linear or log,
                              over W = ⌈beta.warmup_epochs⌉) from 0 or ``beta.start`` up to
                              the first milestone
            [W, W + H)        milestone 0 at β₀, held H = ``beta.hold_epochs`` epochs
            [W + H, W + 2H)   milestone 1 at β₁, …

β is constant within a milestone and steps at epoch boundaries, where the snapshot of the
milestone that ends is written (:mod:`infovit.training.snapshot`). The run ends with its last
milestone; ``optim.epochs`` must hold the whole ladder (W + n·H epochs).

With ``beta.settle.window`` w > 0 a milestone may end early: after the first of its epochs e
with w epochs of the milestone before it and ``|KL_e − KL_{e−w}| ≤ rel_tol · max(KL_{e−w},
0.01)``, KL being the epoch's mean training KL per image (nats); H is then the longest hold.
Every boundary is a function of the epochs' recorded KL, so a resumed run replays them from
``metrics.jsonl`` and takes exactly the decisions of an uninterrupted one.

The learning rate (``optim.ladder_lr``) is a function of the step alone:

- ``rewarm`` (default): the ordinary warm-up + cosine over the initial phase and milestone 0,
  then for every later milestone a re-warm from ``min_lr`` over min(``optim.warmup_epochs``,
  H/4) epochs and a cosine back down to ``min_lr`` at its end. Each snapshot is thus taken at
  the end of an annealed schedule, like an independent run's final weights; a constant lr
  would leave every snapshot a noisy iterate of a run still moving (and one cosine over the
  whole ladder would give the early milestones a high lr and the late ones almost none).
- ``constant``: the warm-up, then ``optim.lr`` throughout (the only one that suits settle,
  whose holds have no length known in advance);
- ``cosine``: one warm-up + cosine over the ladder's length, as a non-ladder run (for
  comparison).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from infovit.training.config import BetaConfig, OptimConfig
from infovit.training.objective import beta_at
from infovit.training.optim import lr_at

__all__ = ["SETTLE_FLOOR", "Ladder", "Milestone", "ladder_length", "ladder_lr"]

SETTLE_FLOOR = 0.01  # nats per image: below it, a KL change counts as noise for settle


def _ramp_epochs(beta: BetaConfig) -> int:
    """W: the initial phase ends at an epoch boundary (a fractional warm-up is rounded up)."""
    return math.ceil(beta.warmup_epochs)


def ladder_length(beta: BetaConfig) -> int:
    """Epochs of the whole ladder: ⌈warm-up⌉ + milestones × hold (an upper bound with settle)."""
    return _ramp_epochs(beta) + len(beta.milestones or []) * beta.hold_epochs


@dataclass(frozen=True)
class Milestone:
    """One step of the ladder: β ``beta`` over epochs [``start``, ``end``)."""

    index: int
    beta: float
    start: int
    end: int

    @property
    def epochs(self) -> int:
        return self.end - self.start


class Ladder:
    """Where a ladder run stands: the milestones that ended, from the KL of every epoch.

    Feed it every completed epoch in order with :meth:`observe` (live, or replayed from the
    metrics of a resumed run); it answers which milestone an epoch belongs to, its β, and
    whether the ladder is done.
    """

    def __init__(self, beta: BetaConfig) -> None:
        if beta.schedule != "ladder" or not beta.milestones:
            raise ValueError("Ladder needs beta.schedule ladder with milestones")
        self.config = beta
        self.betas = [float(b) for b in beta.milestones]
        self.ramp_epochs = _ramp_epochs(beta)
        self.ends: list[int] = []  # end epoch of every milestone that ended
        self._kl: dict[int, float] = {}
        self._next = 0  # the next epoch observe() expects

    @property
    def done(self) -> bool:
        return len(self.ends) == len(self.betas)

    @property
    def max_end(self) -> int:
        """The epoch the run ends before at the latest (each open milestone held fully)."""
        start = self.ends[-1] if self.ends else self.ramp_epochs
        return start + (len(self.betas) - len(self.ends)) * self.config.hold_epochs

    def milestone_at(self, epoch: int) -> int | None:
        """The index of the milestone epoch ``epoch`` trains in; None in the initial phase or
        after the ladder. Epochs after the last observed one belong to the current milestone."""
        if epoch < self.ramp_epochs:
            return None
        for k, end in enumerate(self.ends):
            if epoch < end:
                return k
        return None if self.done else len(self.ends)

    def beta(self, epoch: int, frac: float = 0.0) -> float:
        """β at fraction ``frac`` of epoch ``epoch``: the ramp, then each milestone's β."""
        if epoch < self.ramp_epochs:
            ramp = replace(self.config, value=self.betas[0], schedule=self.config.ramp)
            return beta_at(ramp, epoch + frac)
        k = self.milestone_at(epoch)
        return self.betas[-1 if k is None else k]

    def in_last(self, epoch: int) -> bool:
        """Whether ``epoch`` trains at the last milestone (the run's own, final β)."""
        return self.milestone_at(epoch) == len(self.betas) - 1

    def observe(self, epoch: int, kl_per_image: float) -> Milestone | None:
        """Epoch ``epoch`` is complete with mean training KL ``kl_per_image``: the milestone
        that ends with it, if one does."""
        if epoch != self._next:
            raise ValueError(f"Ladder.observe expects epoch {self._next}, got {epoch}")
        self._next += 1
        self._kl[epoch] = float(kl_per_image)
        k = self.milestone_at(epoch)
        if k is None:
            return None
        start = self.ends[-1] if self.ends else self.ramp_epochs
        if epoch + 1 - start < self.config.hold_epochs and not self._settled(epoch, start):
            return None
        self.ends.append(epoch + 1)
        return Milestone(k, self.betas[k], start, epoch + 1)

    def _settled(self, epoch: int, start: int) -> bool:
        window, tol = self.config.settle.window, self.config.settle.rel_tol
        if window <= 0 or epoch - window < start:
            return False
        now, before = self._kl[epoch], self._kl[epoch - window]
        return abs(now - before) <= tol * max(before, SETTLE_FLOOR)


def ladder_lr(optim: OptimConfig, beta: BetaConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate of a ladder run after ``step`` steps (module docstring)."""
    lr, low = optim.lr, optim.min_lr
    warm = round(optim.warmup_epochs * steps_per_epoch)
    if optim.ladder_lr == "constant":
        return low + (lr - low) * step / warm if step < warm else lr
    if optim.ladder_lr == "cosine":
        return lr_at(step, ladder_length(beta) * steps_per_epoch, warm, lr, low)
    hold = beta.hold_epochs * steps_per_epoch
    first = _ramp_epochs(beta) * steps_per_epoch + hold  # the initial phase + milestone 0
    if step < first:
        return lr_at(step, first, warm, lr, low)
    rewarm = round(min(optim.warmup_epochs, beta.hold_epochs / 4) * steps_per_epoch)
    local = (step - first) % hold if step < ladder_length(beta) * steps_per_epoch else hold
    return lr_at(local, hold, rewarm, lr, low)
