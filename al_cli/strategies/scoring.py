"""Strategies that score each unlabeled input and take a batch by the shared selection step."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig

from al_cli.config import ConfigError
from al_cli.strategies.base import Context
from al_cli.strategies.scores import ACQUISITIONS, NEED_SEVERAL_SAMPLES
from al_cli.strategies.selection import candidate_positions, check_selection, select_batch


def check_candidates(cfg: DictConfig) -> int | None:
    if cfg.candidates is None:
        return None
    if not isinstance(cfg.candidates, int) or cfg.candidates <= 0:
        raise ConfigError(
            f"strategy.candidates={cfg.candidates!r} must be a positive integer or null (all)"
        )
    return int(cfg.candidates)


class ScoringStrategy:
    """Scores ``strategy.acquisition`` over the posterior's samples, streamed over the pool."""

    def __init__(self, cfg: DictConfig):
        if cfg.acquisition not in ACQUISITIONS:
            raise ConfigError(
                f"strategy.acquisition={cfg.acquisition!r} is not known; choose one of "
                f"{', '.join(sorted(ACQUISITIONS))}"
            )
        check_selection(cfg.selection, cfg.temperature, cfg.acquisition)
        self.acquisition = cfg.acquisition
        self.score = ACQUISITIONS[cfg.acquisition]
        self.selection = cfg.selection
        self.temperature = float(cfg.temperature)
        self.candidates = check_candidates(cfg)
        self.needs = frozenset(
            {"samples", "multiple_samples"}
            if cfg.acquisition in NEED_SEVERAL_SAMPLES
            else {"samples"}
        )

    def select(self, ctx: Context, k: int) -> np.ndarray:
        pos = candidate_positions(len(ctx.unlabeled_x), self.candidates, ctx.rng, k)
        scores = ctx.learner.map_samples(ctx.unlabeled_x[pos], self.score)
        return pos[select_batch(scores, k, self.selection, self.temperature, ctx.generator)]

    def describe(self) -> dict[str, object]:
        return {"acquisition": self.acquisition, "selection": self.selection}
