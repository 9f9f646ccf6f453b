"""Uniform random sampling: the baseline. Asks the learner for nothing."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from al_cli.config import ConfigError
from al_cli.strategies.base import Context


class RandomStrategy:
    needs: frozenset[str] = frozenset()

    def __init__(self, cfg: DictConfig):
        if cfg.acquisition != "random":
            raise ConfigError(
                f"strategy.acquisition={cfg.acquisition} has no effect with strategy=random; "
                f"pick a scoring strategy instead (e.g. strategy=entropy)"
            )

    def select(self, ctx: Context, k: int) -> np.ndarray:
        return ctx.rng.choice(len(ctx.unlabeled_x), size=k, replace=False)

    def describe(self) -> dict[str, object]:
        return {"acquisition": "random", "selection": "random"}
