"""Where a diversity strategy measures distances (``strategy.space``): the classifier's own
penultimate embeddings, which move every round, or the run's representation, computed once
without labels (Hacohen et al. 2022 and Yehuda et al. 2022 cluster self-supervised features)."""

from __future__ import annotations

import torch

from al_cli.errors import UserError, check_choice
from al_cli.strategies.base import Context
from al_cli.strategies.candidates import Candidates

SPACES = ("embedding", "representation")


def check_space(space: str) -> str:
    check_choice("strategy.space", space, SPACES)
    return space


def space_needs(space: str) -> frozenset[str]:
    """What a strategy measuring distances in ``space`` needs (``Strategy.needs``): the
    learner's embeddings, or the run's representation (no embeddings then)."""
    return frozenset({"embed"}) if space == "embedding" else frozenset({"representation"})


def candidate_vectors(ctx: Context, candidates: Candidates, space: str) -> torch.Tensor:
    """The candidates' vectors in ``space``: ``embedding`` asks the learner (a trained
    network), ``representation`` reads the context's features."""
    if space == "embedding":
        return ctx.learner.embed(candidates.x)
    if ctx.unlabeled_features is None or ctx.labeled_features is None:
        raise UserError(
            "strategy.space=representation needs a representation; "
            "set representation=... or strategy.space=embedding"
        )
    rows = torch.as_tensor(candidates.positions, device=ctx.unlabeled_features.device)
    return ctx.unlabeled_features[rows]


def vectors(ctx: Context, candidates: Candidates, space: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The candidates' vectors and the labeled set's, in ``space`` (``candidate_vectors``)."""
    pool = candidate_vectors(ctx, candidates, space)
    if space == "embedding":
        return pool, ctx.learner.embed(ctx.labeled_x)
    return pool, ctx.labeled_features
