"""Acquisition scores against hand-computed values, and the shared selection step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from al_cli.metrics import ece, evaluate
from al_cli.strategies import scores
from al_cli.strategies.candidates import candidate_positions
from al_cli.strategies.selection import top_k

P = torch.tensor([[[0.7, 0.2, 0.1], [0.4, 0.35, 0.25], [1.0, 0.0, 0.0]]], dtype=torch.float64)


def test_least_confidence():
    assert scores.least_confidence(P).tolist() == pytest.approx([0.3, 0.6, 0.0])


def test_margin():
    assert scores.margin(P).tolist() == pytest.approx([-0.5, -0.05, -1.0])


def test_entropy():
    def h(*p):
        return -sum(q * math.log(q) for q in p if q > 0)

    assert scores.entropy(P).tolist() == pytest.approx([h(0.7, 0.2, 0.1), h(0.4, 0.35, 0.25), 0.0])


def test_uncertainty_rankings_agree_on_a_clear_case():
    for fn in (scores.least_confidence, scores.margin, scores.entropy):
        s = fn(P)
        assert s[1] > s[0] > s[2]


TWO_SAMPLES = torch.tensor(
    [
        [[1.0, 0.0], [0.5, 0.5], [0.9, 0.1]],
        [[0.0, 1.0], [0.5, 0.5], [0.9, 0.1]],
    ],
    dtype=torch.float64,
)


def test_bald_and_friends_on_disagreeing_samples():
    # input 0: samples disagree completely; 1: agree on a flat prediction; 2: agree confidently
    b = scores.bald(TWO_SAMPLES)
    assert b.tolist() == pytest.approx([math.log(2), 0.0, 0.0], abs=1e-9)
    assert torch.allclose(
        b,
        scores.entropy(TWO_SAMPLES)
        - torch.stack([scores.entropy(TWO_SAMPLES[s : s + 1]) for s in range(2)]).mean(0),
    )
    assert scores.variation_ratios(TWO_SAMPLES).tolist() == pytest.approx([0.5, 0.0, 0.0])
    assert scores.mean_std(TWO_SAMPLES).tolist() == pytest.approx([0.5, 0.0, 0.0])


def test_top_k_breaks_ties_by_seed_not_index():
    tied = torch.zeros(100)
    picks = {tuple(top_k(tied, 5, torch.Generator().manual_seed(s))) for s in range(5)}
    assert len(picks) == 5
    assert tuple(top_k(tied, 5, torch.Generator().manual_seed(1))) == tuple(
        top_k(tied, 5, torch.Generator().manual_seed(1))
    )
    assert (0, 1, 2, 3, 4) not in picks
    s = torch.tensor([0.1, 0.9, 0.5, 0.9, 0.2])
    assert set(top_k(s, 2, torch.Generator().manual_seed(0))) == {1, 3}
    assert set(top_k(s, 3, torch.Generator().manual_seed(0))) == {1, 2, 3}


def test_candidate_positions():
    rng = np.random.default_rng(0)
    assert candidate_positions(5, None, rng).tolist() == [0, 1, 2, 3, 4]
    assert candidate_positions(5, 9, rng).tolist() == [0, 1, 2, 3, 4]
    assert len(candidate_positions(100, 3, rng, k=10)) == 10  # never fewer than the batch
    sub = candidate_positions(100, 10, rng)
    assert len(set(sub.tolist())) == 10 and sub.max() < 100


def test_metrics_by_hand():
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2]], dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0])
    m = evaluate(probs, y)
    assert m["test_accuracy"] == pytest.approx(0.75)
    assert m["test_nll"] == pytest.approx(
        -(math.log(0.9) + math.log(0.4) + math.log(0.7) + math.log(0.8)) / 4
    )
    # bins of width 1/15: 0.9 -> bin 13, 0.6 -> bin 8, 0.7 -> bin 10, 0.8 -> bin 11; one each
    assert ece(probs, y) == pytest.approx((0.1 + 0.6 + 0.3 + 0.2) / 4)
