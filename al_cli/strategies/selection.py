"""The shared step from scores to a batch.

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
from al_cli.strategies.scores import ACQUISITIONS

SELECTIONS = ("topk", "power", "softmax", "softrank")

POWER_TOLERANCE = 1e-6
"""Negative scores down to -tolerance * max|score| are float error (BALD) and clamp to 0."""


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


def picked(scores: torch.Tensor, chosen: np.ndarray) -> Selection:
    """The ``chosen`` positions into ``scores``, each with its score, as a Selection."""
    values = scores.detach().cpu().double().numpy()
    return Selection(chosen, values[chosen])


def check_selection(selection: str, temperature: float, acquisition: str | None = None) -> None:
    """Refuse a selection that cannot work with this acquisition, before any training."""
    negative = acquisition in ACQUISITIONS and ACQUISITIONS[acquisition].negative
    if selection == "power" and negative:
        raise UserError(
            f"strategy.selection=power needs non-negative scores, but strategy.acquisition="
            f"{acquisition} is negative by design; use strategy.selection=softmax or softrank"
        )
    if selection not in SELECTIONS:
        unknown("strategy.selection", selection, SELECTIONS)
    if not temperature > 0:
        raise UserError(f"strategy.temperature={temperature} must be positive")
