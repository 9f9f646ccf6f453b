"""Posteriors: ``posterior._target_`` names the class, built as ``Posterior(factory, **keys)``."""

from __future__ import annotations

from omegaconf import DictConfig

from al_cli.build import call, target_class
from al_cli.errors import UserError
from al_cli.posteriors.base import NetworkFactory, Posterior, network_factory

PROVIDES = frozenset({"samples", "consistent_samples", "embed", "last_layer"})


def build_posterior(cfg: DictConfig, factory: NetworkFactory) -> Posterior:
    cls = target_class(cfg, "posterior", Posterior, "a posterior")
    posterior = call(cls, "posterior", cfg, factory)
    unknown = set(posterior.provides) - PROVIDES
    if unknown or "samples" not in posterior.provides:
        raise UserError(
            f"posterior._target_={cfg._target_!r} declares provides={sorted(posterior.provides)}; "
            f"it must include samples and may add {', '.join(sorted(PROVIDES - {'samples'}))}"
        )
    return posterior


__all__ = ["NetworkFactory", "Posterior", "build_posterior", "network_factory"]
