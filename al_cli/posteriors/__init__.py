"""Posteriors: ``posterior._target_`` names the class, built as ``Posterior(factory, **keys)``."""

from __future__ import annotations

from omegaconf import DictConfig

from al_cli.build import call, target_class
from al_cli.errors import UserError
from al_cli.posteriors.base import (
    NetworkFactory,
    OneNetwork,
    Posterior,
    SampledPosterior,
    network_factory,
)

PROVIDES = frozenset({"samples", "multiple_samples", "consistent_samples", "embed", "last_layer"})


def build_posterior(cfg: DictConfig, factory: NetworkFactory) -> Posterior:
    """The posterior of ``cfg``, checked: what it declares is something al knows, and its
    ``multiple_samples`` agrees with its ``n_samples``."""
    cls = target_class(cfg, "posterior", Posterior, "a posterior")
    posterior = call(cls, "posterior", cfg, factory)
    provides = posterior.provides
    unknown = set(provides) - PROVIDES
    if unknown or "samples" not in provides:
        raise UserError(
            f"posterior._target_={cfg._target_!r} declares provides={sorted(provides)}; "
            f"it must include samples and may add {', '.join(sorted(PROVIDES - {'samples'}))}"
        )
    n = posterior.n_samples
    if ("multiple_samples" in provides) != (n >= 2):
        says = "declares" if "multiple_samples" in provides else "does not declare"
        raise UserError(
            f"posterior._target_={cfg._target_!r} gives n_samples={n} but {says} "
            f"multiple_samples in provides; declare it exactly when n_samples >= 2"
        )
    return posterior


__all__ = [
    "NetworkFactory",
    "OneNetwork",
    "Posterior",
    "SampledPosterior",
    "build_posterior",
    "network_factory",
]
