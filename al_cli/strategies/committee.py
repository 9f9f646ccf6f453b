"""Query by Committee: the members of an ensemble vote; the inputs they disagree on most win.

The committee is the ``deep_ensemble`` posterior (with ``bootstrap``, each member also sees its
own resample of the labeled set), so training is shared with every other ensemble strategy;
``strategy.disagreement`` picks the measure, which is then scored like any acquisition.
"""

from __future__ import annotations

from al_cli.errors import check_choice
from al_cli.strategies.scores import DISAGREEMENTS
from al_cli.strategies.scoring import ScoringStrategy


class QBCStrategy(ScoringStrategy):
    def __init__(
        self,
        disagreement: str = "vote_entropy",
        selection: str = "topk",
        temperature: float = 1.0,
        candidates: int | None = None,
    ):
        check_choice("strategy.disagreement", disagreement, DISAGREEMENTS)
        super().__init__(disagreement, selection, temperature, candidates)
