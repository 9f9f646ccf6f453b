"""The oracle's refusals, the initial draw, and that strategies never reach a hidden label."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from al_cli.data import Oracle, Pool
from al_cli.errors import UserError


def test_oracle_reveals_each_index_once():
    oracle = Oracle(torch.tensor([3, 1, 4, 1, 5]))
    assert oracle.reveal(np.array([4, 0])).tolist() == [5, 3]
    with pytest.raises(ValueError, match="already labeled"):
        oracle.reveal(np.array([0]))
    with pytest.raises(ValueError, match="twice"):
        oracle.reveal(np.array([1, 1]))
    with pytest.raises(IndexError):
        oracle.reveal(np.array([5]))
    with pytest.raises(IndexError):
        oracle.reveal(np.array([-1]))
    assert oracle.reveal(np.array([1, 2, 3])).tolist() == [1, 4, 1]


def test_initial_draw_random_and_balanced():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    oracle = Oracle(labels)
    idx = oracle.draw_initial(12, False, np.random.default_rng(0))
    assert len(set(idx.tolist())) == 12
    again = Oracle(labels).draw_initial(12, False, np.random.default_rng(0))
    assert idx.tolist() == again.tolist()
    bal = oracle.draw_initial(12, True, np.random.default_rng(1))
    assert np.bincount(labels[bal].numpy()).tolist() == [4, 4, 4]
    bal = oracle.draw_initial(10, True, np.random.default_rng(1))
    assert sorted(np.bincount(labels[bal].numpy()).tolist()) == [3, 3, 4]
    with pytest.raises(UserError, match="at least one label per class"):
        oracle.draw_initial(2, True, np.random.default_rng(0))
    with pytest.raises(UserError, match="only 20"):
        oracle.draw_initial(75, True, np.random.default_rng(0))


def test_pool_tracks_labeled_and_unlabeled():
    pool = Pool(6)
    pool.add(np.array([4, 1]), torch.tensor([0, 1]), 0)
    pool.add(np.array([2]), torch.tensor([1]), 1)
    assert pool.n_labeled == 3
    assert pool.unlabeled_indices().tolist() == [0, 3, 5]
    assert pool.labeled_indices().tolist() == [4, 1, 2]
    assert pool.revealed_labels().tolist() == [0, 1, 1]
    assert pool.rounds == [0, 0, 1]
