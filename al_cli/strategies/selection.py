"""The shared step from scores to a batch, and the optional random candidate subset."""

from __future__ import annotations

import numpy as np
import torch

from al_cli.config import ConfigError

SELECTIONS = ("topk",)


def candidate_positions(n: int, candidates: int | None, rng: np.random.Generator) -> np.ndarray:
    """All positions ``0..n-1``, or a random subset of ``candidates`` of them (Gal et al. 2017)."""
    if candidates is None or candidates >= n:
        return np.arange(n)
    return np.sort(rng.choice(n, size=candidates, replace=False))


def top_k(scores: torch.Tensor, k: int, generator: torch.Generator) -> np.ndarray:
    """Positions of the ``k`` highest scores; ties broken by a seeded permutation."""
    scores = scores.detach().cpu()
    perm = torch.randperm(len(scores), generator=generator)
    order = torch.argsort(scores[perm], descending=True, stable=True)
    return perm[order[:k]].numpy()


def select_batch(
    scores: torch.Tensor, k: int, selection: str, temperature: float, generator: torch.Generator
) -> np.ndarray:
    """Draw ``k`` positions from ``scores`` as ``strategy.selection`` says."""
    if selection == "topk":
        return top_k(scores, k, generator)
    raise ConfigError(
        f"strategy.selection={selection!r} is not known; choose one of {', '.join(SELECTIONS)}"
    )


def check_selection(selection: str, temperature: float) -> None:
    if selection not in SELECTIONS:
        raise ConfigError(
            f"strategy.selection={selection!r} is not known; choose one of {', '.join(SELECTIONS)}"
        )
    if not temperature > 0:
        raise ConfigError(f"strategy.temperature={temperature} must be positive")
