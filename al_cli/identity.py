"""A run's identity, standard library only: the hash that names its folder, the keys left out
of it, the one way a nested config is flattened, and the keys that moved between versions.

``al run`` (through ``results.config_hash``), ``al plot`` and ``al migrate`` all read these
from here, so a run's folder, its plotted line and its migration agree; ``al plot`` imports this
without torch or omegaconf, which is why nothing here may import them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

NOT_IDENTITY = ("hydra", "paths", "resume", "deterministic", "threads", "logger")
"""Top-level keys that never change a run's results, so they are not part of its identity.
Within an option, its schema marks such keys (``config.not_identity_keys``)."""

RENAMED = {
    ("posterior", "samples"): ("strategy", "samples"),
    ("posterior", "consistent_masks"): ("strategy", "consistent_masks"),
    ("posterior", "members"): ("strategy", "members"),
    ("posterior", "bootstrap"): ("strategy", "bootstrap"),
    ("posterior", "prior_sigma"): ("strategy", "bnn_prior_sigma"),
    ("posterior", "hessian"): ("strategy", "laplace_hessian"),
    ("posterior", "prior_precision"): ("strategy", "laplace_prior_precision"),
}
"""New (group, key) -> where an earlier version recorded it: ``al migrate`` reads old runs
through it, and ``MOVED`` refuses the old keys by it."""


READ_BY = {
    "samples": "a posterior that samples: posterior=mc_dropout, bnn or laplace",
    "consistent_masks": "posterior=mc_dropout",
    "members": "posterior=deep_ensemble",
    "bootstrap": "posterior=deep_ensemble",
    "prior_sigma": "posterior=bnn",
    "hessian": "posterior=laplace",
    "prior_precision": "posterior=laplace",
}
"""The posterior options that read each key ``RENAMED`` moved there (a key moved
without an entry here fails on import, not in a user's refusal)."""
MEANING = {"samples": "the number of samples", "members": "the ensemble size"}


def moved_hint(new: tuple[str, str]) -> str:
    """Where a renamed key lives now (``use posterior.hessian, with posterior=laplace``)."""
    group, key = new
    lead = f"{MEANING[key]} is" if key in MEANING else "use"
    return f"{lead} {group}.{key}, with {READ_BY[key]}"


MOVED = {
    "strategy.posterior": "the posterior is a config group of its own: use posterior=NAME "
    "(deterministic, mc_dropout, deep_ensemble, bnn, laplace)",
    **{f"{old[0]}.{old[1]}": moved_hint(new) for new, old in RENAMED.items()},
}
"""Keys of earlier versions that live elsewhere now (``RENAMED``, old -> new, and
the posterior that was a strategy key): named in the refusal of the old key."""


def identity_hash(identity: dict[str, Any]) -> str:
    """Eight hex digits naming a run's settings apart from its seed (which the folder names
    itself): of ``results.identity_config``, or of a run.json's config (``identity_of``)."""
    rest = {k: v for k, v in identity.items() if k != "seed"}
    blob = json.dumps(rest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def identity_of(config: dict[str, Any]) -> dict[str, Any]:
    """A config's top-level keys without ``NOT_IDENTITY``: all that an older run.json (one
    without ``config_hash``) says about what changes its results."""
    return {k: v for k, v in config.items() if k not in NOT_IDENTITY}


def flatten(config: Any, leaf: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Every leaf of a nested config by its dotted key (``{"trainer": {"lr": 0.1}}`` ->
    ``{"trainer.lr": 0.1}``); an empty mapping is a leaf of its own. ``leaf`` turns each value
    into what the caller records (``as_text`` where only text is taken, as MLflow params)."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for name, sub in node.items():
                walk(sub, f"{prefix}{name}.")
        else:
            out[prefix[:-1]] = node if leaf is None else leaf(node)

    walk(config, "")
    return out


def as_text(value: Any, sort_keys: bool = False) -> str:
    """A leaf as text: a string as it is, anything else as JSON (``0.01``, ``[64, 32]``,
    ``null``); ``sort_keys`` orders mappings inside lists, so equal settings read alike."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=sort_keys)
