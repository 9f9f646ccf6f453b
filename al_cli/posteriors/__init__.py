"""Posteriors by name: ``strategy.posterior`` picks one."""

from __future__ import annotations

from omegaconf import DictConfig

from al_cli.config import ConfigError
from al_cli.posteriors.base import NetworkFactory, Posterior
from al_cli.posteriors.deep_ensemble import DeepEnsemble
from al_cli.posteriors.deterministic import Deterministic

POSTERIORS: dict[str, type] = {
    "deterministic": Deterministic,
    "deep_ensemble": DeepEnsemble,
}


def make_posterior(strategy_cfg: DictConfig, factory: NetworkFactory) -> Posterior:
    name = strategy_cfg.posterior
    if name not in POSTERIORS:
        raise ConfigError(
            f"strategy.posterior={name!r} is not known; "
            f"choose one of {', '.join(sorted(POSTERIORS))}"
        )
    return POSTERIORS[name](factory, strategy_cfg)


__all__ = ["POSTERIORS", "NetworkFactory", "Posterior", "make_posterior"]
