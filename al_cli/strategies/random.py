"""Uniform random sampling: the baseline. Asks the learner for nothing."""

from __future__ import annotations

from al_cli.strategies.base import Context, Selection, Strategy
from al_cli.strategies.selection import candidate_positions, check_candidates


class RandomStrategy(Strategy):
    def __init__(self, candidates: int | None = None):
        self.candidates = check_candidates(candidates)

    def select(self, ctx: Context, k: int) -> Selection:
        pos = candidate_positions(len(ctx.unlabeled_x), self.candidates, ctx.rng, k)
        return Selection(pos[ctx.rng.choice(len(pos), size=k, replace=False)])

    def describe(self) -> dict[str, str]:
        return {"acquisition": "random", "selection": "random"}
