"""Uniform random sampling: the baseline. Asks the learner for nothing."""

from __future__ import annotations

from al_cli.strategies.base import Context, Selection, Strategy
from al_cli.strategies.candidates import Candidates


class RandomStrategy(Strategy):
    def choose(self, ctx: Context, candidates: Candidates, k: int) -> Selection:
        return Selection(ctx.rng.choice(len(candidates), size=k, replace=False))

    def describe(self) -> dict[str, str]:
        return {"acquisition": "random", "selection": "random"}
