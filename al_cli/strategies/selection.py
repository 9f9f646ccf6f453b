"""The shared step from scores to a batch, and the optional random candidate subset.

Besides the plain top-k, a batch can be drawn at random, without replacement, with
probabilities that grow with the score (Kirsch et al. 2023, "Stochastic Batch Acquisition"):
``power`` ~ score^(1/T), ``softmax`` ~ exp(score/T), ``softrank`` ~ rank^(-1/T), T the
``strategy.temperature``. Sampling uses the Gumbel-top-k trick: the k largest of
log-weight + Gumbel noise are a draw without replacement proportional to the weights.
"""

from __future__ import annotations

import numpy as np
import torch

from al_cli.errors import UserError, unknown
from al_cli.strategies.base import Selection

SELECTIONS = ("topk", "power", "softmax", "softrank")

NEGATIVE_BY_DESIGN = frozenset({"margin"})
"""Acquisitions whose scores are negative: ``power`` cannot weight them."""

POWER_TOLERANCE = 1e-6
"""Negative scores down to -tolerance * max|score| are float error (BALD) and clamp to 0."""


def candidate_positions(
    n: int, candidates: int | None, rng: np.random.Generator, k: int = 0
) -> np.ndarray:
    """All positions ``0..n-1``, or a random subset of ``candidates`` of them (Gal et al. 2017),
    never fewer than the batch size ``k``."""
    if candidates is None or max(candidates, k) >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=max(candidates, k), replace=False))


def top_k(scores: torch.Tensor, k: int, generator: torch.Generator) -> np.ndarray:
    """Positions of the ``k`` highest scores; ties broken by a seeded permutation."""
    scores = scores.detach().cpu()
    perm = torch.randperm(len(scores), generator=generator)
    order = torch.argsort(scores[perm], descending=True, stable=True)
    return perm[order[:k]].numpy()


def log_weights(scores: torch.Tensor, selection: str, temperature: float) -> torch.Tensor:
    """log of the sampling weight of each score under ``selection`` (not normalised)."""
    scores = scores.detach().cpu().double()
    if selection == "softmax":
        return scores / temperature
    if selection == "softrank":
        ranks = torch.empty_like(scores)
        ranks[torch.argsort(scores, descending=True, stable=True)] = torch.arange(
            1, len(scores) + 1, dtype=scores.dtype
        )
        return -ranks.log() / temperature
    # power
    scale = float(scores.abs().max()) if len(scores) else 0.0
    if len(scores) and float(scores.min()) < -POWER_TOLERANCE * max(scale, 1e-12):
        raise UserError(
            f"strategy.selection=power needs non-negative scores, but got {float(scores.min()):.3g}"
            f"; use strategy.selection=softmax or softrank with this acquisition"
        )
    # a zero score gets a weight far below any positive one, yet still a finite key
    return scores.clamp_min(1e-300).log() / temperature


def stochastic_k(
    scores: torch.Tensor, k: int, selection: str, temperature: float, generator: torch.Generator
) -> np.ndarray:
    """``k`` positions drawn without replacement with probability proportional to the weights."""
    logw = log_weights(scores, selection, temperature)
    u = torch.rand(len(logw), generator=generator, dtype=torch.float64)
    gumbel = -torch.log(-torch.log(u.clamp(1e-300, 1.0 - 1e-16)))
    return torch.topk(logw + gumbel, k).indices.numpy()


def select_batch(
    scores: torch.Tensor, k: int, selection: str, temperature: float, generator: torch.Generator
) -> np.ndarray:
    """Draw ``k`` positions from ``scores`` as ``strategy.selection`` says."""
    if selection == "topk":
        return top_k(scores, k, generator)
    if selection in SELECTIONS:
        return stochastic_k(scores, k, selection, temperature, generator)
    unknown("strategy.selection", selection, SELECTIONS)


def picked(pos: np.ndarray, scores: torch.Tensor, chosen: np.ndarray) -> Selection:
    """The ``chosen`` positions into ``scores`` as a Selection over pool positions ``pos``."""
    values = scores.detach().cpu().double().numpy()
    return Selection(pos[chosen], values[chosen])


def check_selection(selection: str, temperature: float, acquisition: str | None = None) -> None:
    """Refuse a selection that cannot work with this acquisition, before any training."""
    if selection == "power" and acquisition in NEGATIVE_BY_DESIGN:
        raise UserError(
            f"strategy.selection=power needs non-negative scores, but strategy.acquisition="
            f"{acquisition} is negative by design; use strategy.selection=softmax or softrank"
        )
    if selection not in SELECTIONS:
        unknown("strategy.selection", selection, SELECTIONS)
    if not temperature > 0:
        raise UserError(f"strategy.temperature={temperature} must be positive")


def check_candidates(candidates: int | None) -> int | None:
    """``strategy.candidates``: a positive integer, or None for the whole unlabeled pool."""
    if candidates is None:
        return None
    if isinstance(candidates, bool) or not isinstance(candidates, int) or candidates <= 0:
        raise UserError(
            f"strategy.candidates={candidates!r} must be a positive integer or null (all)"
        )
    return int(candidates)
