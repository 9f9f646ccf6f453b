"""Query by Committee: the members of an ensemble vote; the inputs they disagree on most win.

The committee is the ``deep_ensemble`` posterior (with ``bootstrap``, each member also sees its
own resample of the labeled set), so training is shared with every other ensemble strategy;
``strategy.disagreement`` picks the measure, which is then scored like any acquisition.
"""

from __future__ import annotations

from omegaconf import DictConfig

from al_cli.config import ConfigError
from al_cli.strategies.scores import DISAGREEMENTS
from al_cli.strategies.scoring import ScoringStrategy


class QBCStrategy(ScoringStrategy):
    def __init__(self, cfg: DictConfig):
        if cfg.disagreement not in DISAGREEMENTS:
            raise ConfigError(
                f"strategy.disagreement={cfg.disagreement!r} is not known; choose one of "
                f"{', '.join(DISAGREEMENTS)}"
            )
        if cfg.acquisition != cfg.disagreement:
            raise ConfigError(
                f"strategy.acquisition={cfg.acquisition} has no effect with strategy=qbc; "
                f"set strategy.disagreement instead"
            )
        super().__init__(cfg)
