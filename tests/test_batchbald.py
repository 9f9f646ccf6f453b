"""BatchBALD: batch size 1 is BALD, the greedy step maximises the exact joint mutual
information, sampled configurations estimate it, and duplicates are not picked twice."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from al_cli.errors import UserError
from al_cli.strategies.batchbald import BatchBALD, _joint_entropies, batchbald
from al_cli.strategies.scores import bald


def random_probs(s: int, n: int, c: int, seed: int = 0, sharp: float = 3.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.softmax(sharp * torch.randn(s, n, c, generator=gen, dtype=torch.float64), -1)


def joint_mi(probs: torch.Tensor, idx: list[int]) -> float:
    """I(y_idx; w) by brute-force enumeration of every label configuration."""
    s, _, c = probs.shape
    h = 0.0
    for ys in itertools.product(range(c), repeat=len(idx)):
        p = torch.ones(s, dtype=probs.dtype)
        for i, y in zip(idx, ys, strict=True):
            p = p * probs[:, i, y]
        m = float(p.mean())
        h -= m * math.log(m) if m > 0 else 0.0
    cond = -(probs * probs.log()).sum(-1).mean(0)
    return h - float(cond[idx].sum())


def test_batch_of_one_is_bald():
    for seed in range(3):
        probs = random_probs(10, 30, 4, seed)
        chosen, gains = batchbald(probs, 1, 1000, torch.Generator())
        assert chosen == [int(bald(probs).argmax())]
        assert gains[0] == pytest.approx(float(bald(probs).max()))  # the pick's score


def test_greedy_steps_maximise_the_exact_joint_mutual_information():
    probs = random_probs(8, 12, 3, seed=1)
    chosen, scores = batchbald(probs, 3, 10**6, torch.Generator())
    for step in range(1, 3):
        gains = {
            i: joint_mi(probs, chosen[:step] + [i]) for i in range(12) if i not in chosen[:step]
        }
        assert chosen[step] == max(gains, key=gains.get)
        # each pick's score is the joint mutual information of the batch up to it
        assert scores[step] == pytest.approx(gains[chosen[step]])


def test_sampled_configurations_estimate_the_joint_entropy():
    probs = random_probs(6, 5, 3, seed=2, sharp=1.0)
    exact_joint = torch.ones(6, 1, dtype=torch.float64)
    for i in (0, 1, 2):
        exact_joint = (exact_joint.unsqueeze(2) * probs[:, i].unsqueeze(1)).reshape(6, -1)
    exact = _joint_entropies(exact_joint, probs[:, 3:], None)
    gen = torch.Generator().manual_seed(0)
    draws = torch.randint(6, (20000,), generator=gen)
    pick = torch.multinomial(exact_joint[draws], 1, replacement=True, generator=gen).squeeze(1)
    sampled_joint = exact_joint[:, pick]
    weights = 1.0 / sampled_joint.mean(0)
    sampled = _joint_entropies(sampled_joint, probs[:, 3:], weights)
    torch.testing.assert_close(sampled, exact, atol=0.03, rtol=0)
    # and the greedy run through the sampled regime still returns distinct points
    picks, _ = batchbald(random_probs(10, 40, 5, seed=3), 8, 200, torch.Generator().manual_seed(0))
    assert len(set(picks)) == 8


def test_duplicates_are_not_picked_twice():
    probs = random_probs(20, 10, 4, seed=4, sharp=1.0)
    best = int(bald(probs).argmax())
    dup = torch.cat([probs, probs[:, best : best + 1]], dim=1)  # point 10 copies the best one
    assert set(torch.topk(bald(dup), 2).indices.tolist()) == {best, 10}  # BALD takes both
    picks, _ = batchbald(dup, 2, 10000, torch.Generator())
    assert picks[0] in (best, 10) and picks[1] not in (best, 10)


def test_refuses_what_breaks_the_joint_entropy():
    from al_cli.setup import setup
    from tests.conftest import FAST, compose_config, refused

    cfg = compose_config(*FAST, "strategy=batchbald", "posterior.consistent_masks=false")
    with pytest.raises(UserError, match="consistent_masks=true"):
        setup(cfg)
    refused("strategy=batchbald", "strategy.selection=power", key="strategy.selection")
    with pytest.raises(UserError, match="batchbald_candidates"):
        BatchBALD(batchbald_candidates=0)
