"""Posteriors by name: ``strategy.posterior`` picks one."""

from __future__ import annotations

from omegaconf import DictConfig

from al_cli.config import ConfigError
from al_cli.posteriors.base import NetworkFactory, Posterior
from al_cli.posteriors.bnn import BayesByBackprop
from al_cli.posteriors.deep_ensemble import DeepEnsemble
from al_cli.posteriors.deterministic import Deterministic
from al_cli.posteriors.laplace import LastLayerLaplace
from al_cli.posteriors.mc_dropout import MCDropout

POSTERIORS: dict[str, type] = {
    "deterministic": Deterministic,
    "deep_ensemble": DeepEnsemble,
    "mc_dropout": MCDropout,
    "bnn": BayesByBackprop,
    "laplace": LastLayerLaplace,
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
