"""Query strategies. ``strategy._target_`` names the class; each takes the strategy config."""

from __future__ import annotations

from hydra.utils import get_class
from omegaconf import DictConfig

from al_cli.config import ConfigError
from al_cli.strategies.base import Context, Strategy


def build_strategy(cfg: DictConfig) -> Strategy:
    try:
        cls = get_class(cfg._target_)
    except Exception as err:
        raise ConfigError(
            f"strategy._target_={cfg._target_!r} cannot be imported; check the strategy config"
        ) from err
    return cls(cfg)


def check_compatible(
    strategy: Strategy, provides: frozenset[str], n_samples: int, cfg: DictConfig
) -> None:
    """Refuse, before any training, a strategy whose needs the learner cannot meet."""
    missing = set(strategy.needs) - set(provides) - {"multiple_samples"}
    if missing:
        raise ConfigError(
            f"strategy={cfg.name} needs {', '.join(sorted(missing))} from the learner, which "
            f"strategy.posterior={cfg.posterior} cannot give; choose another posterior"
        )
    if "multiple_samples" in strategy.needs and n_samples < 2:
        raise ConfigError(
            f"strategy.acquisition={cfg.acquisition} needs several posterior samples, but "
            f"strategy.posterior={cfg.posterior} gives one; use strategy.posterior=deep_ensemble "
            f"(or another Bayesian posterior)"
        )


__all__ = ["Context", "Strategy", "build_strategy", "check_compatible"]
