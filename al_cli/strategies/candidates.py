"""The optional random candidate subset (Gal et al. 2017): drawn once, for every strategy, by
``Strategy.select``; a strategy only ever sees its candidates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from al_cli.errors import UserError


def check_candidates(candidates: int | None) -> int | None:
    """``strategy.candidates``: a positive integer, or None for the whole unlabeled pool."""
    if candidates is None:
        return None
    if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates <= 0:
        raise UserError(
            f"strategy.candidates={candidates!r} must be a positive integer or null (all)"
        )
    return int(candidates)


def candidate_positions(
    n: int, candidates: int | None, rng: np.random.Generator, k: int = 0
) -> np.ndarray:
    """All positions ``0..n-1``, or a random subset of ``candidates`` of them (Gal et al. 2017),
    never fewer than the batch size ``k``: set-up refuses ``candidates`` <= the batch, but a
    strategy called directly (tests, a script of its own) still gets a full batch."""
    if candidates is None or max(candidates, k) >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=max(candidates, k), replace=False))


@dataclass(frozen=True)
class Candidates:
    """One round's candidates: sorted positions into ``Context.unlabeled_x``. A strategy's
    ``choose`` answers with positions into these (``0..len-1``), never into the pool."""

    positions: np.ndarray
    pool_x: torch.Tensor
    """``Context.unlabeled_x``, the inputs the positions index."""

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def x(self) -> torch.Tensor:
        """The candidates' inputs, indexed on each call (a strategy that reads no inputs, as
        random, never copies the pool); the pool itself when they are all of it."""
        if len(self.positions) == len(self.pool_x):
            return self.pool_x
        return self.pool_x[self.positions]

    def inputs(self, rows: np.ndarray) -> torch.Tensor:
        """The inputs of the candidates at ``rows`` (positions into the candidates)."""
        return self.pool_x[self.positions[rows]]
