"""al: a command-line runner for pool-based active learning experiments, and its Python API.

    import al_cli
    curve = al_cli.run("dataset=synthetic", "strategy=entropy")   # one experiment
    runs = al_cli.load_runs("results")                               # every run, one table

The names below are imported on first use, so ``import al_cli`` stays light (no torch).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "run": "al_cli.api",
    "load_runs": "al_cli.api",
    "load_split": "al_cli.api",
    "UserError": "al_cli.errors",
    "Strategy": "al_cli.strategies",
    "Selection": "al_cli.strategies",
    "Context": "al_cli.strategies",
    "Posterior": "al_cli.posteriors",
    "Model": "al_cli.models",
    "DataSplit": "al_cli.data",
    "loader": "al_cli.data",
}
"""The Python API (``run``, ``load_runs``, ``load_split``) and the classes and decorator for
own parts: a strategy (``Strategy``, returning a ``Selection`` from a ``Context``), a posterior,
a model, a data loader (``@loader``, returning a ``DataSplit``)."""

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'al_cli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
