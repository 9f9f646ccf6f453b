"""Query by committee: the disagreement measures by hand, and the committee it is built on."""

from __future__ import annotations

import math

import pytest
import torch

from al_cli.errors import UserError
from al_cli.setup import setup
from al_cli.strategies import scores
from al_cli.strategies.committee import QBCStrategy
from tests.conftest import FAST, compose_config, refused

# three members, three inputs: 0) two vote class 0, one class 1; 1) all agree; 2) all differ
COMMITTEE = torch.tensor(
    [
        [[0.6, 0.3, 0.1], [0.8, 0.1, 0.1], [0.5, 0.3, 0.2]],
        [[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3]],
        [[0.2, 0.7, 0.1], [0.9, 0.05, 0.05], [0.1, 0.2, 0.7]],
    ],
    dtype=torch.float64,
)


def test_vote_entropy_by_hand():
    two_one = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert scores.vote_entropy(COMMITTEE).tolist() == pytest.approx([two_one, 0.0, math.log(3)])


def test_kl_consensus_by_hand():
    expected = []
    for n in range(3):
        members = COMMITTEE[:, n].tolist()
        mean = [sum(m[c] for m in members) / 3 for c in range(3)]
        kl = [sum(p * math.log(p / q) for p, q in zip(m, mean, strict=True)) for m in members]
        expected.append(sum(kl) / 3)
    assert scores.kl_consensus(COMMITTEE).tolist() == pytest.approx(expected)
    # soft disagreement is seen where hard votes agree: input 1 votes unanimously
    assert scores.kl_consensus(COMMITTEE)[1] > 0 == scores.vote_entropy(COMMITTEE)[1]
    assert scores.kl_consensus(COMMITTEE[:1]).abs().max() < 1e-12  # one member: no disagreement


def test_qbc_is_a_bootstrapped_ensemble():
    cfg = compose_config(*FAST, "strategy=qbc")
    assert cfg.posterior.name == "deep_ensemble" and cfg.posterior.bootstrap
    assert cfg.posterior.members == 5 and cfg.strategy.disagreement == "vote_entropy"
    assert "acquisition" not in cfg.strategy
    exp = setup(cfg)
    assert exp.learner.n_samples == 5 and exp.learner.posterior.bootstrap
    assert exp.identity["acquisition"] == "vote_entropy"
    cfg = compose_config(*FAST, "strategy=qbc", "strategy.disagreement=kl_consensus")
    assert setup(cfg).identity["acquisition"] == "kl_consensus"


def test_qbc_refuses_bad_settings():
    with pytest.raises(UserError, match="strategy.disagreement='margin' is not known"):
        QBCStrategy(disagreement="margin")
    refused("strategy=qbc", "strategy.acquisition=entropy", key="strategy.acquisition")


def test_qbc_needs_a_committee():
    """QBC sets the ensemble's bootstrap: a posterior without one is refused at composition,
    and a committee of one at set-up."""
    refused(*FAST, "strategy=qbc", "posterior=deterministic", key="posterior.bootstrap")
    with pytest.raises(UserError, match="at least 2 members"):
        setup(compose_config(*FAST, "strategy=qbc", "posterior.members=1"))
