"""What a strategy receives each round, what it returns, and what it must provide."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from al_cli.learner import Learner


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


class Strategy(Protocol):
    """A query strategy. Derive your own from this class and name it in a strategy option's
    ``_target_``; it is built as ``Strategy(**keys)`` with the option's keys."""

    needs: frozenset[str] = frozenset()
    """What the learner must give: ``samples``, ``multiple_samples``, ``consistent_samples``,
    ``embed``, ``last_layer``. Checked once at set-up, before any training."""
    diagnostics: tuple[str, ...] = ()
    """Names of the per-round numbers ``select`` reports: each becomes a curve column."""

    def select(self, ctx: Context, k: int) -> Selection:
        """``k`` distinct positions into ``ctx.unlabeled_x`` (``k`` <= its length)."""
        ...

    def describe(self) -> dict[str, str]:
        """The ``acquisition`` and ``selection`` columns of ``learning_curve.csv``."""
        ...
