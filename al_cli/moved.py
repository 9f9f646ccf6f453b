"""Keys of earlier versions that live elsewhere now, and where: the refusal of an old key
(``cli.py``) names its new place. Standard library only, like ``identity``."""

from __future__ import annotations

from al_cli.identity import RENAMED

READ_BY = {
    "samples": "a posterior that samples: posterior=mc_dropout, bnn or laplace",
    "consistent_masks": "posterior=mc_dropout",
    "members": "posterior=deep_ensemble",
    "bootstrap": "posterior=deep_ensemble",
    "prior_sigma": "posterior=bnn",
    "hessian": "posterior=laplace",
    "prior_precision": "posterior=laplace",
}
"""The posterior options that read each key ``identity.RENAMED`` moved there (a key moved
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
"""Keys of earlier versions that live elsewhere now (``identity.RENAMED``, old -> new, and
the posterior that was a strategy key): named in the refusal of the old key."""
