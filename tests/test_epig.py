"""EPIG against BALD where the two must agree and where they must differ, its bounds, and the
authors' per-pair formula."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from al_cli.errors import UserError
from al_cli.strategies import Context
from al_cli.strategies import epig as epig_module
from al_cli.strategies.epig import EPIG, epig
from al_cli.strategies.scores import bald, entropy


def one_hot(votes: list[list[int]], classes: int = 3) -> torch.Tensor:
    """``[S, N, C]``: sample s predicts class ``votes[n][s]`` for input n with certainty."""
    v = torch.tensor(votes).T  # [S, N]
    return torch.nn.functional.one_hot(v, classes).double()


def per_pair(pool: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    """The authors' ``conditional_epig_from_probs``: KL between the joint and the product of
    the marginals, for every (candidate, target), averaged over targets (their definition)."""
    joint = (pool[:, :, None, :, None] * targ[:, None, :, None, :]).mean(0)  # [N, M, C, C]
    indep = pool.mean(0)[:, None, :, None] * targ.mean(0)[None, :, None, :]
    log_term = torch.where(joint > 0, joint.log() - indep.log(), torch.zeros_like(joint))
    return (joint * log_term).sum((-2, -1)).mean(1)


def random_probs(s: int, n: int, c: int, seed: int, sharp: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(sharp * torch.randn(s, n, c, generator=g, dtype=torch.float64), -1)


def test_epig_equals_bald_when_the_target_is_the_candidate_and_samples_are_certain():
    """Each sample predicts one class with certainty, so y = f_s(x); a target x* = x gives
    y* = y under every sample, and I(y; y*) = H(y) = BALD (E_s H[p_s] = 0)."""
    pool = one_hot([[0, 1, 2, 0], [1, 1, 1, 2]])  # S = 4, N = 2
    for n in range(2):
        target = pool[:, n : n + 1]
        assert float(epig(pool[:, n : n + 1], target)) == pytest.approx(
            float(bald(pool[:, n : n + 1])), abs=1e-12
        )
    assert float(bald(pool[:, :1])) == pytest.approx(-(0.5 * math.log(0.5) + 0.5 * math.log(0.25)))
    # with uncertain samples y and y* are two draws given θ, no longer equal: I(y; y*) < BALD
    soft = random_probs(4, 1, 3, 0, sharp=1.0)
    assert 0 < float(epig(soft, soft)) < float(bald(soft)) - 1e-3


def test_epig_is_zero_for_a_high_bald_candidate_independent_of_every_target():
    """The candidate's prediction flips with samples 0,1 vs 2,3 paired with 0,2 vs 1,3: across
    the 4 samples its label is independent of each target's, so EPIG = 0 while BALD = log 2.
    A target that follows the candidate exactly gives EPIG = log 2 = BALD."""
    candidate = one_hot([[0, 1, 0, 1]], 2)
    independent = one_hot([[0, 0, 1, 1], [1, 1, 0, 0]], 2)
    assert float(bald(candidate)) == pytest.approx(math.log(2))
    assert float(epig(candidate, independent)) == pytest.approx(0.0, abs=1e-12)
    follows = one_hot([[1, 0, 1, 0]], 2)  # a relabelling of the candidate's label
    assert float(epig(candidate, follows)) == pytest.approx(math.log(2), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_epig_is_the_authors_per_pair_estimate_and_within_its_bounds(seed: int, monkeypatch):
    pool, targ = random_probs(8, 50, 4, seed), random_probs(8, 13, 4, seed + 10)
    monkeypatch.setattr(epig_module, "CHUNK_ELEMENTS", 4 * 13 * 4 * 7)  # 7 candidates a chunk
    scores = epig(pool, targ)
    torch.testing.assert_close(scores, per_pair(pool, targ), rtol=1e-9, atol=1e-12)
    # I(y; y*) >= 0, and <= I(y; θ) (y - θ - y* is a Markov chain) <= H(y); <= mean H(y*)
    assert (scores >= -1e-12).all()
    assert (scores <= bald(pool) + 1e-12).all()
    assert (scores <= entropy(pool) + 1e-12).all()
    assert (scores <= entropy(targ).mean() + 1e-12).all()


def test_float32_samples_are_scored_in_float64():
    pool, targ = random_probs(4, 6, 3, 5), random_probs(4, 5, 3, 6)
    torch.testing.assert_close(
        epig(pool.float(), targ.float()), epig(pool, targ), rtol=1e-5, atol=1e-6
    )


def fake_learner(probs: torch.Tensor) -> SimpleNamespace:
    """Inputs are row numbers into ``probs`` [S, N, C]; batches of 4."""

    def sample_probs(x: torch.Tensor) -> torch.Tensor:
        return probs[:, x.long().flatten()]

    def map_samples(x, fn):
        return torch.cat([fn(sample_probs(x[i : i + 4])) for i in range(0, len(x), 4)])

    return SimpleNamespace(sample_probs=sample_probs, map_samples=map_samples)


def test_the_strategy_takes_the_top_k_by_epig_over_targets_from_the_pool():
    probs = random_probs(6, 30, 3, 7)
    x = torch.arange(30.0)[:, None]
    ctx = Context(
        fake_learner(probs), x, x[:0], torch.zeros(0, dtype=torch.long),
        np.random.default_rng(4), torch.Generator().manual_seed(0), 0,
    )  # fmt: skip
    sel = EPIG(targets=10).select(ctx, 5)
    rows = np.sort(np.random.default_rng(4).choice(30, size=10, replace=False))
    expected = epig(probs, probs[:, rows])
    assert sel.positions.tolist() == torch.argsort(expected, descending=True)[:5].tolist()
    np.testing.assert_allclose(sel.scores, expected[sel.positions].numpy())
    # more targets than the pool holds: all of it
    assert len(EPIG(targets=1000).select(ctx, 2).positions) == 2


def test_it_needs_consistent_samples_and_positive_targets():
    assert {"multiple_samples", "consistent_samples"} <= EPIG().needs
    for bad in (0, -3):
        with pytest.raises(UserError, match=f"strategy.targets={bad} must be a positive"):
            EPIG(targets=bad)


@pytest.mark.parametrize(
    "posterior",
    [["posterior=deep_ensemble", "posterior.members=2"], ["posterior=laplace"], ["posterior=bnn"]],
    ids=["deep_ensemble", "laplace", "bnn"],
)
def test_every_bayesian_posterior_gives_epig_its_samples(posterior: list[str]):
    """Set up and one selection under each posterior with consistent samples (MC Dropout, the
    default, is in the conformance test)."""
    from tests.test_strategies import first_round

    exp, _, ctx = first_round("epig", posterior)
    sel = exp.strategy.select(ctx, 5)
    assert len(set(sel.positions.tolist())) == 5
    assert (sel.scores >= -1e-9).all()
