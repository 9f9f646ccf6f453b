"""What a strategy receives each round, and what it must provide."""

from __future__ import annotations

from dataclasses import dataclass
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


class Strategy(Protocol):
    needs: frozenset[str]
    """What the learner must give: "samples", "multiple_samples", "embed", "last_layer"."""

    def select(self, ctx: Context, k: int) -> np.ndarray:
        """``k`` distinct positions into ``ctx.unlabeled_x`` (``k`` <= its length)."""

    def describe(self) -> dict[str, object]:
        """Columns that tell this run's acquisition apart in ``learning_curve.csv``."""
