"""Query strategies: ``strategy._target_`` names the class, built with the option's keys."""

from __future__ import annotations

import keyword

from omegaconf import DictConfig

from al_cli.build import call, target_class
from al_cli.config import option_name
from al_cli.errors import UserError
from al_cli.files import CURVE_COLUMNS, VALIDATION_COLUMNS
from al_cli.strategies.base import Context, Selection, Strategy
from al_cli.strategies.candidates import Candidates

NEEDS = frozenset(
    {"samples", "multiple_samples", "consistent_samples", "embed", "last_layer", "representation"}
)
WHY = {
    "multiple_samples": "several posterior samples (a Bayesian posterior: posterior=mc_dropout, "
    "deep_ensemble, bnn or laplace)",
    "consistent_samples": "samples that are the same network for every input (with "
    "posterior=mc_dropout, set posterior.consistent_masks=true)",
    "embed": "penultimate embeddings (the model's embed(x))",
    "last_layer": "the last layer (the model's classifier, an nn.Linear)",
    "samples": "predictive samples",
    "representation": "a representation (representation=pca or file)",
}


def build_strategy(cfg: DictConfig) -> Strategy:
    """The strategy of ``cfg``, checked: what it declares is something al can honour."""
    cls = target_class(cfg, "strategy", Strategy, "a query strategy")
    strategy = call(cls, "strategy", cfg)
    name = option_name(cfg, "strategy")
    unknown = set(strategy.needs) - NEEDS
    if unknown:
        raise UserError(
            f"strategy={name} needs {', '.join(sorted(unknown))}, which no learner gives; "
            f"declare needs from {', '.join(sorted(NEEDS))}"
        )
    described = strategy.describe()
    if not isinstance(described, dict) or set(described) != {"acquisition", "selection"}:
        raise UserError(
            f"strategy={name}: describe() must return exactly the keys acquisition and "
            f"selection, got {sorted(described) if isinstance(described, dict) else described!r}"
        )
    taken = CURVE_COLUMNS + VALIDATION_COLUMNS
    for column in strategy.diagnostics:
        if not (column.isidentifier() and not keyword.iskeyword(column)) or column in taken:
            raise UserError(
                f"strategy={name} declares the diagnostic {column!r}, which is not a new column "
                f"name (a Python identifier not among {', '.join(taken)})"
            )
    return strategy


def check_compatible(strategy: Strategy, provides: frozenset[str], names: dict[str, str]) -> None:
    """Refuse, before any training, a strategy whose needs the learner cannot meet.

    ``provides``: what the posterior declares (``multiple_samples`` too, checked against its
    sample count when it was built). ``names``: the chosen ``model``, ``posterior`` and ``strategy``
    options, for the message.
    """
    missing = sorted(set(strategy.needs) - set(provides) - {"representation"})
    if missing:
        acquisition = strategy.describe()["acquisition"]
        raise UserError(
            f"strategy={names['strategy']} (acquisition {acquisition}) needs {WHY[missing[0]]}, "
            f"which model="
            f"{names['model']} with posterior={names['posterior']} cannot give; choose another "
            f"posterior or model (a model derived from al_cli.models.Model has embed and "
            f"classifier)"
        )


def needs_model(strategy: Strategy) -> bool:
    """Whether the strategy asks a trained learner for anything: one that needs nothing, or
    only the run's representation, can choose before any label is revealed."""
    return not set(strategy.needs) <= {"representation"}


def check_cold_start(strategy: Strategy, initial: int, name: str) -> None:
    """Refuse ``budget.initial=0`` (the strategy picks the first batch with no trained model)
    for a strategy that needs one, before any data are read."""
    if initial > 0 or not needs_model(strategy):
        return
    needs = sorted(set(strategy.needs) - {"representation"})
    raise UserError(
        f"budget.initial=0 lets the strategy pick the first batch before any model is trained, "
        f"but strategy={name} needs {WHY[needs[0]]} from a trained model; set budget.initial>0, "
        f"or use a strategy that needs none (random, typiclust, probcover, or coreset/kmeans "
        f"with strategy.space=representation)"
    )


def check_representation(strategy: Strategy, has_one: bool, names: dict[str, str]) -> None:
    """Refuse, before any data are read, a strategy that needs the run's representation in a
    run without one (``representation=none``): the learner cannot stand in for it."""
    if "representation" not in strategy.needs or has_one:
        return
    in_space = getattr(strategy, "space", None) == "representation"
    raise UserError(
        f"strategy={names['strategy']}{' with strategy.space=representation' if in_space else ''}"
        f" needs a representation, but representation=none; set representation=pca or simclr "
        f"(or representation=file with representation.path=FEATURES.npz)"
        f"{', or strategy.space=embedding' if in_space else ''}"
    )


__all__ = [
    "Candidates",
    "Context",
    "Selection",
    "Strategy",
    "build_strategy",
    "check_cold_start",
    "check_compatible",
    "check_representation",
    "needs_model",
]
