"""BatchBALD (Kirsch, van Amersfoort & Gal 2019): a batch by greedy joint mutual information.

BALD scores points one by one and so fills a batch with near-duplicates. BatchBALD picks
the batch that maximises I(y_1..y_k; w) = H(y_1..y_k) - sum_i E_w H(y_i | w), one point at a
time. The joint entropy needs p(y_1..y_k) = mean_s prod_i p_s(y_i): the S posterior samples
must be the same network for every input (consistent masks). Joint label configurations are
enumerated exactly while they fit in ``batchbald_joint_samples``, then sampled from the joint
predictive and weighted by importance, as in the paper.

The scores are streamed over the pool to find the top ``batchbald_candidates`` points by BALD;
only that candidate set's samples ``[S, candidates, C]`` are held at once.
"""

from __future__ import annotations

import numpy as np
import torch

from al_cli.errors import UserError
from al_cli.progress import steps
from al_cli.strategies.base import Context, Selection, Strategy
from al_cli.strategies.candidates import Candidates
from al_cli.strategies.scores import EPS, bald
from al_cli.strategies.selection import picked, top_k

CHUNK_ELEMENTS = 2**22
"""Candidates are scored in chunks so that [chunk, configurations, C] stays this small."""


def _conditional_entropy(probs: torch.Tensor) -> torch.Tensor:
    """E_s H[p_s(y_n)] for each point: [N]."""
    return -(probs * probs.clamp_min(EPS).log()).sum(-1).mean(0)


def _joint_entropies(
    joint: torch.Tensor, probs: torch.Tensor, weights: torch.Tensor | None
) -> torch.Tensor:
    """H(y_chosen, y_n) for every candidate n: [N].

    ``joint`` [S, M]: p_s(configuration m) of the chosen points. Exact (``weights`` None):
    the M configurations are all of them. Sampled: ``weights`` [M] = 1 / p(configuration),
    the importance weights of configurations drawn from the joint predictive."""
    s, m = joint.shape
    n, c = probs.shape[1], probs.shape[2]
    out = torch.empty(n, dtype=probs.dtype)
    step = max(1, CHUNK_ELEMENTS // (m * c))
    for i in range(0, n, step):
        p = torch.einsum("sm,snc->nmc", joint, probs[:, i : i + step]) / s  # [n, M, C]
        plogp = p * p.clamp_min(EPS).log()
        if weights is None:
            out[i : i + step] = -plogp.sum((1, 2))
        else:
            out[i : i + step] = -(plogp.sum(2) * weights).mean(1)
    return out


def batchbald(
    probs: torch.Tensor, k: int, joint_samples: int, generator: torch.Generator
) -> tuple[list[int], list[float]]:
    """Greedy BatchBALD over ``probs`` [S, N, C]: ``k`` positions in order of choice, and for
    each the joint mutual information of the batch up to and including it."""
    probs = probs.double().cpu()
    s, n, c = probs.shape
    cond = _conditional_entropy(probs)
    chosen: list[int] = []
    gains: list[float] = []
    joint = torch.ones(s, 1, dtype=probs.dtype)
    weights: torch.Tensor | None = None
    draws: torch.Tensor | None = None  # for sampled configurations: the sample each one came from
    for _ in steps(k, "BatchBALD", "pick"):
        score = _joint_entropies(joint, probs, weights) - cond
        score[chosen] = -torch.inf
        i = int(torch.argmax(score))
        # score omits the chosen points' E_w H, the same for every candidate: add it back
        gains.append(float(score[i] - cond[chosen].sum()))
        chosen.append(i)
        p_i = probs[:, i]  # [S, C]
        if draws is None:
            extended = (joint.unsqueeze(2) * p_i.unsqueeze(1)).reshape(s, -1)  # exact, [S, M*C]
            if extended.shape[1] <= joint_samples:
                joint = extended
                continue
            # too many configurations: draw joint_samples of them from the joint predictive
            draws = torch.randint(s, (joint_samples,), generator=generator)
            pick = torch.multinomial(extended[draws], 1, generator=generator).squeeze(1)
            joint = extended[:, pick]
        else:
            y = torch.multinomial(p_i[draws], 1, generator=generator).squeeze(1)
            joint = joint * p_i[:, y]
        weights = 1.0 / joint.mean(0).clamp_min(1e-300)
    return chosen, gains


class BatchBALD(Strategy):
    """Top candidates by BALD, then greedy BatchBALD among them. A pick's score is the joint
    mutual information of the batch up to it (by BALD, when the batch takes every candidate)."""

    needs = frozenset({"samples", "multiple_samples", "consistent_samples"})

    def __init__(
        self,
        candidates: int | None = None,
        batchbald_candidates: int = 100,
        batchbald_joint_samples: int = 2000,
    ):
        for key, value in (
            ("batchbald_candidates", batchbald_candidates),
            ("batchbald_joint_samples", batchbald_joint_samples),
        ):
            if value < 1:
                raise UserError(f"strategy.{key}={value} must be a positive integer")
        super().__init__(candidates)
        self.top = int(batchbald_candidates)
        self.joint_samples = int(batchbald_joint_samples)

    def choose(self, ctx: Context, candidates: Candidates, k: int) -> Selection:
        scores = ctx.learner.map_samples(candidates.x, bald)
        top = top_k(scores, min(max(self.top, k), len(candidates)), ctx.generator)
        if k >= len(top):
            return picked(scores, top)
        probs = ctx.learner.sample_probs(candidates.inputs(top))
        chosen, gains = batchbald(probs, k, self.joint_samples, ctx.generator)
        return Selection(top[chosen], np.asarray(gains))

    def describe(self) -> dict[str, str]:
        return {"acquisition": "batchbald", "selection": "greedy"}
