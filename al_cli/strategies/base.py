"""What a strategy receives each round, what it returns, and what it must provide."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from al_cli.learner import Learner
from al_cli.strategies.candidates import Candidates, candidate_positions, check_candidates


@dataclass(frozen=True)
class Context:
    """Everything a strategy may use in one round. Hidden labels are not among it: the
    context is built from the Pool's revealed labels, and the Oracle never enters it."""

    learner: Learner
    unlabeled_x: torch.Tensor
    """Inputs of the unlabeled pool; ``select`` returns positions into this tensor."""
    labeled_x: torch.Tensor
    labeled_y: torch.Tensor
    """Labels the oracle has revealed, aligned with ``labeled_x``."""
    rng: np.random.Generator
    generator: torch.Generator
    """CPU generator, seeded from (seed, round)."""
    round: int
    unlabeled_features: torch.Tensor | None = None
    """The run's representation (``representation=``) of ``unlabeled_x``, row for row: what
    a strategy in ``strategy.space=representation`` measures distances in. None without one."""
    labeled_features: torch.Tensor | None = None
    """The same representation of ``labeled_x``."""


@dataclass(frozen=True)
class Selection:
    """A strategy's answer: positions into ``Context.unlabeled_x``, each pick's score, and the
    round's diagnostics (one number per name the strategy declares in ``diagnostics``)."""

    positions: np.ndarray
    scores: np.ndarray | None = None
    """``[k]``, aligned with ``positions``: what each pick was chosen by (higher = more worth
    labeling); None for a strategy that scores nothing (random). Written to queries.csv."""
    diagnostics: Mapping[str, float] = field(default_factory=dict)
    """Written to learning_curve.csv as extra columns (e.g. the core-set covering radius)."""


class Strategy(ABC):
    """A query strategy. Derive your own from this class, implement ``choose`` and
    ``describe``, and name it in a strategy option's ``_target_``; it is built as
    ``Strategy(**keys)`` with the option's keys. Call ``super().__init__(candidates)`` to take
    the ``candidates`` key: ``select`` then draws that random subset of the unlabeled pool
    (the same draws for every strategy) and ``choose`` sees only it."""

    needs: frozenset[str] = frozenset()
    """What the learner must give: ``samples``, ``multiple_samples``, ``consistent_samples``,
    ``embed``, ``last_layer``; or ``representation``: the run's ``representation=`` (the
    context's features), not the learner's. Checked once at set-up, before any training. An
    instance may set its own (``needs`` of ``strategy.space``)."""
    diagnostics: tuple[str, ...] = ()
    """Names of the per-round numbers ``choose`` reports: each becomes a curve column."""
    candidates: int | None = None
    """How many unlabeled inputs ``choose`` sees, drawn at random each round (None: all)."""

    def __init__(self, candidates: int | None = None):
        self.candidates = check_candidates(candidates)

    def select(self, ctx: Context, k: int) -> Selection:
        """``k`` distinct positions into ``ctx.unlabeled_x`` (``k`` <= its length): the round's
        candidates are drawn from ``ctx.rng`` first, then ``choose`` picks among them."""
        positions = candidate_positions(len(ctx.unlabeled_x), self.candidates, ctx.rng, k)
        answer = self.choose(ctx, Candidates(positions, ctx.unlabeled_x), k)
        sel = check_selection(answer, k, len(positions), self)
        return Selection(positions[sel.positions], sel.scores, sel.diagnostics)

    @abstractmethod
    def choose(self, ctx: Context, candidates: Candidates, k: int) -> Selection:
        """``k`` distinct positions into ``candidates`` (not the pool), with their scores and
        the declared diagnostics. ``ctx`` gives the learner, the labeled set and the seeded
        generators (``ctx.rng`` has drawn the candidates already)."""

    @abstractmethod
    def describe(self) -> dict[str, str]:
        """The ``acquisition`` and ``selection`` columns of ``learning_curve.csv``."""


def check_selection(
    answer: Selection | np.ndarray, k: int, n_unlabeled: int, strategy: Strategy
) -> Selection:
    """A strategy's answer must be ``k`` distinct positions into the unlabeled set, with ``k``
    scores or none, and exactly the diagnostics it declares (a bare array: positions only)."""
    sel = answer if isinstance(answer, Selection) else Selection(np.asarray(answer))
    pos = np.asarray(sel.positions, dtype=np.int64).reshape(-1)
    name = type(strategy).__name__
    if len(pos) != k:
        raise RuntimeError(f"{name} returned {len(pos)} positions, not {k}")
    if len(np.unique(pos)) != k or (k and (pos.min() < 0 or pos.max() >= n_unlabeled)):
        raise RuntimeError(f"{name} returned repeated or out-of-range positions")
    scores = None
    if sel.scores is not None:
        scores = np.asarray(sel.scores, dtype=np.float64).reshape(-1)
        if len(scores) != k:
            raise RuntimeError(f"{name} returned {len(scores)} scores for {k} positions")
    if set(sel.diagnostics) != set(strategy.diagnostics):
        raise RuntimeError(
            f"{name} reported diagnostics {sorted(sel.diagnostics)}, but declares "
            f"{sorted(strategy.diagnostics)}"
        )
    return Selection(pos, scores, {k: float(v) for k, v in sel.diagnostics.items()})
