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
from omegaconf import DictConfig

from al_cli.config import ConfigError
from al_cli.strategies.base import Context
from al_cli.strategies.scores import EPS, bald
from al_cli.strategies.scoring import check_candidates
from al_cli.strategies.selection import candidate_positions, top_k

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
) -> list[int]:
    """Greedy BatchBALD over ``probs`` [S, N, C]: ``k`` positions in order of choice."""
    probs = probs.double().cpu()
    s, n, c = probs.shape
    cond = _conditional_entropy(probs)
    chosen: list[int] = []
    joint = torch.ones(s, 1, dtype=probs.dtype)
    weights: torch.Tensor | None = None
    draws: torch.Tensor | None = None  # for sampled configurations: the sample each one came from
    for _ in range(k):
        score = _joint_entropies(joint, probs, weights) - cond
        score[chosen] = -torch.inf
        i = int(torch.argmax(score))
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
    return chosen


class BatchBALD:
    """Top candidates by BALD, then greedy BatchBALD among them."""

    def __init__(self, cfg: DictConfig):
        if cfg.acquisition != "batchbald":
            raise ConfigError(
                f"strategy=batchbald computes its own joint acquisition; leave "
                f"strategy.acquisition=batchbald (got {cfg.acquisition})"
            )
        if cfg.selection != "topk":
            raise ConfigError(
                f"strategy=batchbald selects its batch greedily; strategy.selection="
                f"{cfg.selection} does not apply (use strategy=bald strategy.selection=power "
                f"for PowerBALD)"
            )
        if cfg.posterior == "mc_dropout" and not cfg.consistent_masks:
            raise ConfigError(
                "strategy=batchbald needs the same dropout masks for every input; "
                "set strategy.consistent_masks=true"
            )
        for key in ("batchbald_candidates", "batchbald_joint_samples"):
            if cfg[key] < 1:
                raise ConfigError(f"strategy.{key}={cfg[key]} must be a positive integer")
        self.candidates = check_candidates(cfg)
        self.top = int(cfg.batchbald_candidates)
        self.joint_samples = int(cfg.batchbald_joint_samples)
        self.needs = frozenset({"samples", "multiple_samples"})

    def select(self, ctx: Context, k: int) -> np.ndarray:
        pos = candidate_positions(len(ctx.unlabeled_x), self.candidates, ctx.rng, k)
        scores = ctx.learner.map_samples(ctx.unlabeled_x[pos], bald)
        top = top_k(scores, min(max(self.top, k), len(pos)), ctx.generator)
        if k >= len(top):
            return pos[top]
        probs = ctx.learner.sample_probs(ctx.unlabeled_x[pos[top]])
        return pos[top[batchbald(probs, k, self.joint_samples, ctx.generator)]]

    def describe(self) -> dict[str, object]:
        return {"acquisition": "batchbald", "selection": "greedy"}
