"""Stochastic batch acquisition (power, softmax, softrank): the batch is a seeded draw without
replacement with the weights of Kirsch et al. 2023."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from al_cli.errors import UserError
from al_cli.strategies.selection import check_selection, select_batch

SCORES = torch.tensor([0.1, 0.2, 0.3, 0.4])


def first_pick_frequencies(selection: str, temperature: float, draws: int = 4000) -> np.ndarray:
    gen = torch.Generator().manual_seed(0)
    picks = [select_batch(SCORES, 1, selection, temperature, gen)[0] for _ in range(draws)]
    return np.bincount(picks, minlength=len(SCORES)) / draws


@pytest.mark.parametrize(
    ("selection", "temperature", "weights"),
    [
        ("power", 1.0, [0.1, 0.2, 0.3, 0.4]),
        ("power", 0.5, [0.01, 0.04, 0.09, 0.16]),
        ("softmax", 0.1, np.exp(np.array([1.0, 2.0, 3.0, 4.0]))),
        ("softrank", 1.0, [1 / 4, 1 / 3, 1 / 2, 1.0]),
    ],
)
def test_single_draws_follow_the_weights(selection, temperature, weights):
    expected = np.asarray(weights) / np.sum(weights)
    freq = first_pick_frequencies(selection, temperature)
    assert np.abs(freq - expected).max() < 0.03, (freq, expected)


@pytest.mark.parametrize("selection", ["power", "softmax", "softrank"])
def test_batches_are_distinct_seeded_and_random(selection):
    scores = torch.rand(200, generator=torch.Generator().manual_seed(1))
    batch = select_batch(scores, 50, selection, 1.0, torch.Generator().manual_seed(2))
    assert len(set(batch.tolist())) == 50 and batch.max() < 200
    again = select_batch(scores, 50, selection, 1.0, torch.Generator().manual_seed(2))
    other = select_batch(scores, 50, selection, 1.0, torch.Generator().manual_seed(3))
    assert batch.tolist() == again.tolist() and set(batch) != set(other)
    assert sorted(select_batch(scores, 200, selection, 1.0, torch.Generator()).tolist()) == list(
        range(200)
    )
    # favours high scores, but is not top-k
    top = set(torch.topk(scores, 50).indices.tolist())
    assert len(set(batch.tolist()) & top) > 15 and set(batch.tolist()) != top


def test_low_temperature_power_is_top_k():
    scores = torch.rand(100, generator=torch.Generator().manual_seed(4))
    batch = select_batch(scores, 10, "power", 1e-3, torch.Generator().manual_seed(0))
    assert set(batch.tolist()) == set(torch.topk(scores, 10).indices.tolist())


def test_power_clamps_float_noise_and_refuses_negative_scores():
    bald_like = torch.tensor([0.5, -1e-9, 0.0, 0.2])  # BALD's floating point gives -1e-9
    assert set(select_batch(bald_like, 2, "power", 1.0, torch.Generator()).tolist()) <= {0, 1, 2, 3}
    assert select_batch(bald_like, 4, "power", 1.0, torch.Generator()).size == 4
    with pytest.raises(UserError, match="non-negative"):
        select_batch(torch.tensor([-0.5, -0.1, 0.2]), 1, "power", 1.0, torch.Generator())
    with pytest.raises(UserError, match="margin is negative by design"):
        check_selection("power", 1.0, "margin")
    check_selection("softmax", 1.0, "margin")
    with pytest.raises(UserError, match="temperature"):
        check_selection("softrank", 0.0, "bald")
    with pytest.raises(UserError, match="not known"):
        check_selection("gumbel", 1.0, "bald")
