"""ProbCover: the δ-ball graph, the greedy coverage and the purity heuristic, on hand-made
points whose answers are worked out below."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from al_cli.errors import UserError
from al_cli.strategies import Context, coverage
from al_cli.strategies.coverage import (
    DELTAS,
    ProbCover,
    ball_graph,
    max_coverage,
    purity_delta,
)


def line(*xs: float) -> torch.Tensor:
    return torch.tensor(xs, dtype=torch.float64)[:, None]


def greedy(points: torch.Tensor, n_labeled: int, k: int, delta: float, seed: int = 0):
    return max_coverage(
        ball_graph(points, delta), n_labeled, k, torch.Generator().manual_seed(seed)
    )


def test_the_greedy_picks_on_a_line():
    # unlabeled 0 1 2 3 4 10 11 12, labeled 20 (covers only itself); delta 1.5 joins
    # neighbours 1 apart. Out-degrees: 1, 2, 3 and 11 cover 3 points; the first of them (1)
    # covers {0, 1, 2}, then 11 covers {10, 11, 12}, then 3 covers {3, 4} (2 points: 4 also
    # covers 2 of them, 3 comes first). Everything is then covered.
    points = line(20, 0, 1, 2, 3, 4, 10, 11, 12)
    picks, gains, covered = greedy(points, 1, 3, 1.5)
    assert picks.tolist() == [1, 6, 3]  # positions into the unlabeled rows
    assert gains.tolist() == [3, 3, 2]
    assert covered == 1.0


def test_the_labeled_points_balls_are_covered_first():
    # the same line with 0 labeled: it covers {0, 1}, so 1 now covers only {2}; 3 covers
    # {2, 3, 4} and comes before 11 ({10, 11, 12}); then only 20 is left, covering itself
    points = line(0, 1, 2, 3, 4, 10, 11, 12, 20)
    picks, gains, covered = greedy(points, 1, 3, 1.5)
    assert picks.tolist() == [2, 5, 7]  # 3, 11, 20
    assert gains.tolist() == [3, 3, 1]
    assert covered == 1.0


def test_with_nothing_left_to_cover_the_picks_are_random_candidates_from_the_seed():
    points = line(0, 1, 2, 10)
    picks, gains, covered = greedy(points, 0, 4, 1.5, seed=3)
    assert picks[:2].tolist() == [1, 3] and gains.tolist()[:2] == [3, 1]
    assert sorted(picks.tolist()) == [0, 1, 2, 3] and gains.tolist()[2:] == [0, 0]
    again, _, _ = greedy(points, 0, 4, 1.5, seed=3)
    assert again.tolist() == picks.tolist() and covered == 1.0


def test_the_graph_is_built_in_chunks_and_equals_the_dense_one(monkeypatch):
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(300, 5, generator=g, dtype=torch.float64), dim=1)
    monkeypatch.setattr(coverage, "CELLS", 1000)  # 3 rows at a time
    graph = ball_graph(x, 0.6)
    dense = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist") < 0.6
    assert (graph.toarray() == dense.numpy()).all()
    assert graph.nnz == int(dense.sum())  # the edges, and nothing else, are stored


def test_max_coverage_equals_the_textbook_greedy():
    """Against a dense re-count of every point's uncovered neighbours at each pick."""
    g = torch.Generator().manual_seed(1)
    x = torch.nn.functional.normalize(torch.randn(200, 3, generator=g, dtype=torch.float64), dim=1)
    adj = (torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist") < 0.4).numpy()
    n_labeled, k = 7, 20
    covered = adj[:n_labeled].any(0)
    expected = []
    for _ in range(k):
        degree = (adj & ~covered[None, :]).sum(1)
        degree[:n_labeled] = -1
        degree[expected] = -1
        i = int(np.argmax(degree))
        assert degree[i] > 0  # still something to cover: no random pick
        expected.append(i)
        covered |= adj[i]
    picks, gains, share = greedy(x, n_labeled, k, 0.4)
    assert (picks + n_labeled).tolist() == expected
    assert share == pytest.approx(covered.mean())


@pytest.mark.parametrize(("alpha", "delta"), [(0.95, 0.65), (1.0, 0.65), (0.5, 1.0), (0.25, 1.1)])
def test_the_purity_heuristic_picks_the_largest_pure_enough_delta(alpha: float, delta: float):
    # pseudo-labels 0 at 0 and 0.33, 1 at 1.01 and 1.47: distances to the nearest point of the
    # other label 1.01, 0.68, 0.68, 1.14. A ball is pure while delta <= that distance, so all
    # four are pure up to 0.68 (grid: 0.65), half up to 1.01 (1.0), one up to 1.14 (1.1)
    points = line(0, 0.33, 1.01, 1.47)
    assert purity_delta(points, np.array([0, 0, 1, 1]), alpha) == delta


def test_no_pure_delta_gives_the_smallest_on_the_grid():
    points = line(0, 0.01, 0.02, 0.03)
    assert purity_delta(points, np.array([0, 1, 0, 1]), 0.95) == DELTAS[0]


def test_one_pseudo_label_is_pure_at_every_delta():
    assert purity_delta(line(0, 0.5, 1.9), np.zeros(3, dtype=int), 0.95) == DELTAS[-1]


def circle(*degrees: float) -> torch.Tensor:
    t = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
    return torch.stack([t.cos(), t.sin()], 1)


def context(unlabeled: torch.Tensor, labeled: torch.Tensor, classes: int = 2) -> Context:
    factory = SimpleNamespace(num_classes=classes)
    learner = SimpleNamespace(embed=lambda x: x * 2.0, posterior=SimpleNamespace(factory=factory))
    return Context(
        learner, unlabeled, labeled, torch.zeros(len(labeled), dtype=torch.long),
        np.random.default_rng(0), torch.Generator().manual_seed(0), 0,
    )  # fmt: skip


def test_the_strategy_covers_the_pool_on_unit_vectors_and_reports_coverage():
    # arcs at 0-8 and 90-98 degrees, points 2 degrees apart, 0 labeled. Chords of 2 and 4
    # degrees are 0.035 and 0.070: delta 0.05 joins neighbours only. 0 covers {0, 2}; then 6
    # covers {4, 6, 8} (3 points, as 92, 94 and 96, but first); then 92 covers {90, 92, 94}
    unlabeled = circle(2, 4, 6, 8, 90, 92, 94, 96, 98)
    sel = ProbCover(space="embedding", delta=0.05).select(context(unlabeled, circle(0)), 2)
    assert sel.positions.tolist() == [2, 5]
    assert sel.scores.tolist() == [3, 3]
    assert sel.diagnostics == {"probcover_coverage": 8 / 10, "probcover_delta": 0.05}


def test_a_null_delta_is_chosen_by_purity_on_k_means_pseudo_labels():
    # the same arcs: k-means (k = 2 classes) splits them, and every ball is pure up to the
    # chord between the arcs' nearest ends (8 and 90 degrees, 82 apart: 1.312), 1.3 on the grid
    unlabeled = circle(2, 4, 6, 8, 90, 92, 94, 96, 98)
    sel = ProbCover(space="embedding", delta=None).select(context(unlabeled, circle(0)), 1)
    assert sel.diagnostics["probcover_delta"] == 1.3
    # a ball of 1.3 spans 81 degrees: 0 covers its arc, and 90 (the first of the other arc)
    # covers the rest
    assert sel.positions.tolist() == [4] and sel.scores.tolist() == [5]
    assert sel.diagnostics["probcover_coverage"] == 1.0


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"delta": 0.0}, "strategy.delta=0.0 must be a positive"),
        ({"delta": -1.0}, "strategy.delta=-1.0 must be a positive"),
        ({"alpha": 0.0}, "strategy.alpha=0.0"),
        ({"alpha": 1.5}, "strategy.alpha=1.5"),
        ({"space": "pixels"}, "strategy.space"),
    ],
)
def test_bad_keys_are_refused_when_built(keys: dict, message: str):
    with pytest.raises(UserError, match=message):
        ProbCover(**keys)
