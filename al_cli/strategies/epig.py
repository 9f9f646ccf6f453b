"""EPIG (Bickford Smith, Kirsch, Farquhar, Gal, Foster & Rainforth, AISTATS 2023,
"Prediction-Oriented Bayesian Active Learning"): expected predictive information gain.

BALD asks how much a label tells about the weights, including weights that never change a
prediction anyone will make. EPIG asks how much it tells about the predictions on the inputs
that matter, target inputs x* drawn from the input distribution (here the unlabeled pool):

    EPIG(x) = E_{x*}[ I(y; y* | x, x*) ] = H[y|x] + E_{x*} H[y*|x*] - E_{x*} H[y, y*|x, x*]

with p(y, y*) = mean_s p_s(y|x) p_s(y*|x*) over S posterior samples. The joint needs sample s
to be the same network for the candidate and the target: consistent samples, as BatchBALD.
Since y - θ - y* is a Markov chain, 0 <= EPIG(x) <= BALD(x).

Followed from the authors' code (github.com/fbickfordsmith/epig, ``src/uncertainty/
epig.py``, ``epig_from_probs_using_matmul``; baal's ``EPIG`` heuristic is the same): the joint
``[N, C, M*C]`` as one matrix product of the candidates' ``[N, C, S]`` and the targets'
``[S, M*C]`` divided by S, entropies with 0 log 0 = 0; here in chunks of candidates, in float64.
"""

from __future__ import annotations

import numpy as np
import torch

from al_cli.errors import UserError
from al_cli.strategies.base import Context, Selection, Strategy
from al_cli.strategies.candidates import Candidates
from al_cli.strategies.selection import picked, top_k

CHUNK_ELEMENTS = 2**22
"""Candidates are scored in chunks so that their joint [chunk, C, M*C] stays this small."""


def _entropy(p: torch.Tensor, dims: tuple[int, ...] = (-1,)) -> torch.Tensor:
    return -torch.xlogy(p, p).sum(dims)


def epig(probs_pool: torch.Tensor, probs_targ: torch.Tensor) -> torch.Tensor:
    """EPIG of each candidate ``[N]`` from ``probs_pool`` ``[S, N, C]`` and the targets'
    ``probs_targ`` ``[S, M, C]``, sample s one network for both; memory O(CHUNK_ELEMENTS)."""
    dtype = torch.float32 if probs_pool.device.type == "mps" else torch.float64
    pool, targ = probs_pool.to(dtype), probs_targ.to(probs_pool.device, dtype)
    s, m, c = targ.shape
    h_pool_N = _entropy(pool.mean(0))
    h_targ = _entropy(targ.mean(0)).mean()
    targ_S_MC = targ.reshape(s, m * c)
    out = []
    step = max(1, CHUNK_ELEMENTS // (m * c * c))
    for i in range(0, pool.shape[1], step):
        joint_N_C_MC = torch.einsum("snc,sk->nck", pool[:, i : i + step], targ_S_MC) / s
        h_joint_N = _entropy(joint_N_C_MC, (1, 2)) / m  # mean over targets
        out.append(h_pool_N[i : i + step] + h_targ - h_joint_N)
    return torch.cat(out)


class EPIG(Strategy):
    """EPIG over ``targets`` inputs drawn from the unlabeled pool each round; the top k.
    Each pick's score is its EPIG in nats."""

    needs = frozenset({"samples", "multiple_samples", "consistent_samples"})

    def __init__(self, targets: int = 100, candidates: int | None = None):
        if not (isinstance(targets, int) and targets >= 1):
            raise UserError(
                f"strategy.targets={targets} must be a positive integer: the number of target "
                f"inputs drawn from the unlabeled pool"
            )
        super().__init__(candidates)
        self.targets = int(targets)

    def choose(self, ctx: Context, candidates: Candidates, k: int) -> Selection:
        n = len(ctx.unlabeled_x)
        rows = np.sort(ctx.rng.choice(n, size=min(self.targets, n), replace=False))
        targ = ctx.learner.sample_probs(ctx.unlabeled_x[torch.as_tensor(rows)])
        scores = ctx.learner.map_samples(candidates.x, lambda p: epig(p, targ))
        return picked(scores, top_k(scores, k, ctx.generator))

    def describe(self) -> dict[str, str]:
        return {"acquisition": "epig", "selection": "topk"}
