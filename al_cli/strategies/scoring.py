"""Strategies that score each unlabeled input and take a batch by the shared selection step."""

from __future__ import annotations

from al_cli.errors import check_choice
from al_cli.strategies.base import Context, Selection, Strategy
from al_cli.strategies.candidates import Candidates
from al_cli.strategies.scores import ACQUISITIONS
from al_cli.strategies.selection import check_selection, picked, select_batch


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
        super().__init__(candidates)
        self.acquisition = acquisition
        self.score = ACQUISITIONS[acquisition].score
        self.needs = ACQUISITIONS[acquisition].needs
        self.selection = selection
        self.temperature = float(temperature)

    def choose(self, ctx: Context, candidates: Candidates, k: int) -> Selection:
        scores = ctx.learner.map_samples(candidates.x, self.score)
        chosen = select_batch(scores, k, self.selection, self.temperature, ctx.generator)
        return picked(scores, chosen)

    def describe(self) -> dict[str, str]:
        return {"acquisition": self.acquisition, "selection": self.selection}
