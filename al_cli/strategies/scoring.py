"""Strategies that score each unlabeled input and take a batch by the shared selection step."""

from __future__ import annotations

from al_cli.errors import check_choice
from al_cli.strategies.base import Context, Selection, Strategy
from al_cli.strategies.scores import ACQUISITIONS, NEED_SEVERAL_SAMPLES
from al_cli.strategies.selection import (
    candidate_positions,
    check_candidates,
    check_selection,
    picked,
    select_batch,
)


class ScoringStrategy(Strategy):
    """Scores ``acquisition`` over the posterior's samples, streamed over the pool."""

    def __init__(
        self,
        acquisition: str,
        selection: str = "topk",
        temperature: float = 1.0,
        candidates: int | None = None,
    ):
        check_choice("strategy.acquisition", acquisition, ACQUISITIONS)
        check_selection(selection, temperature, acquisition)
        self.acquisition = acquisition
        self.score = ACQUISITIONS[acquisition]
        self.selection = selection
        self.temperature = float(temperature)
        self.candidates = check_candidates(candidates)
        several = acquisition in NEED_SEVERAL_SAMPLES
        self.needs = frozenset({"samples", "multiple_samples"} if several else {"samples"})

    def select(self, ctx: Context, k: int) -> Selection:
        pos = candidate_positions(len(ctx.unlabeled_x), self.candidates, ctx.rng, k)
        scores = ctx.learner.map_samples(ctx.unlabeled_x[pos], self.score)
        chosen = select_batch(scores, k, self.selection, self.temperature, ctx.generator)
        return picked(pos, scores, chosen)

    def describe(self) -> dict[str, str]:
        return {"acquisition": self.acquisition, "selection": self.selection}
