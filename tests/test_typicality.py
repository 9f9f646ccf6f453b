"""TypiClust on hand-made pools whose right picks are known."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from al_cli.errors import UserError
from al_cli.strategies import Context, typicality
from al_cli.strategies.typicality import TypiClust, typiclust


def unit(v: list[float]) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.tensor(v, dtype=torch.float64), dim=0)


def blob(center: list[float], n: int, spread: float, seed: int) -> torch.Tensor:
    """``n`` points around the unit vector ``center``, unit vectors themselves (typiclust
    normalises, as the authors' features are)."""
    g = torch.Generator().manual_seed(seed)
    x = unit(center)[None, :] + spread * torch.randn(
        n, len(center), generator=g, dtype=torch.float64
    )
    return torch.nn.functional.normalize(x, dim=1)


def brute_typicality(x: torch.Tensor, k: int) -> np.ndarray:
    """1 / (mean squared distance to the k nearest others + 1e-5), from a full matrix."""
    d2 = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist") ** 2
    d2.fill_diagonal_(torch.inf)
    return (1 / (d2.sort(1).values[:, :k].mean(1) + 1e-5)).numpy()


def test_typicality_is_the_inverse_mean_squared_distance_to_the_nearest_neighbours(monkeypatch):
    x = blob([1, 0, 0], 60, 0.2, 0)
    monkeypatch.setattr(typicality, "CELLS", 100)  # rows in several chunks
    for k in (1, 5, 20):
        np.testing.assert_allclose(typicality.typicality(x, k).numpy(), brute_typicality(x, k))


def test_the_pick_is_the_densest_point_of_the_blob_without_a_label():
    # blob A (40 points) holds the one labeled point; blob B (30) has a tight core of 16
    # points (rows 10-25): with K = min(20, 30 // 2) = 15 neighbours, a core point's are all
    # in the core, so the most typical point of B is one of them
    a = blob([1, 0, 0], 40, 0.05, 1)
    b = blob([0, 1, 0], 30, 0.1, 2)
    b[10:26] = blob([0, 1, 0], 16, 0.005, 3)
    points = torch.cat([a[:1], a[1:], b])  # labeled first
    picks, scores = typiclust(points, 1, 1, seed=0)
    expected = brute_typicality(b, 15)
    densest = int(np.argmax(expected))
    assert 10 <= densest < 26
    assert picks.tolist() == [39 + densest]  # a[1:] holds the first 39 unlabeled rows
    assert scores[0] == pytest.approx(expected[densest], rel=1e-9)


def test_largest_unlabeled_clusters_first_then_the_next():
    a = blob([1, 0, 0], 40, 0.05, 3)
    b = blob([0, 1, 0], 20, 0.05, 4)
    c = blob([0, 0, 1], 30, 0.05, 5)  # holds the labeled point
    points = torch.cat([c[:1], b, a, c[1:]])
    picks, _ = typiclust(points, 1, 2, seed=0)  # 3 clusters: a (40), then b (20); c has a label
    assert 20 <= picks[0] < 60 and 0 <= picks[1] < 20


@pytest.mark.parametrize(("small", "in_small"), [(5, False), (6, True)])
def test_clusters_of_at_most_five_points_are_skipped(small: int, in_small: bool):
    """Their code keeps ``cluster_size > MIN_CLUSTER_SIZE``: a cluster of 5 without a label is
    passed over for the labeled one; one of 6 is not."""
    big = blob([1, 0, 0], 30, 0.05, 6)
    tiny = blob([0, 1, 0], small, 0.02, 7)
    points = torch.cat([big[:1], big[1:], tiny])
    picks, _ = typiclust(points, 1, 1, seed=0)
    assert (picks[0] >= 29) == in_small


def test_cluster_count_is_labeled_plus_batch_capped_at_500(monkeypatch):
    seen = []

    def fake(points, k, seed):
        seen.append(k)
        return np.arange(len(points)) % k

    monkeypatch.setattr(typicality, "kmeans_labels", fake)
    x = torch.nn.functional.normalize(torch.randn(2000, 4, dtype=torch.float64), dim=1)
    typiclust(x, 3, 4, seed=0)
    typiclust(x, 700, 10, seed=0)
    assert seen == [7, 500]


def test_neighbours_are_twenty_or_half_the_cluster(monkeypatch):
    ks = []
    real = typicality.typicality
    monkeypatch.setattr(typicality, "typicality", lambda x, k: ks.append((len(x), k)) or real(x, k))
    a = blob([1, 0, 0], 100, 0.05, 8)
    b = blob([0, 1, 0], 13, 0.05, 9)
    c = blob([0, 0, 1], 10, 0.05, 10)  # holds the labeled point
    typiclust(torch.cat([c[:1], a, b, c[1:]]), 1, 2, seed=0)
    assert ks == [(100, 20), (13, 6)]  # min(20, size // 2), the largest cluster first


def test_picks_are_distinct_even_when_the_batch_exhausts_every_cluster():
    x = blob([1, 0, 0], 40, 0.3, 10)
    picks, scores = typiclust(x, 4, 36, seed=1)
    assert sorted(picks.tolist()) == list(range(36))
    assert not np.isinf(scores).any()


def test_the_strategy_clusters_labeled_and_candidates_from_their_embeddings():
    a = blob([1, 0, 0], 40, 0.05, 11)
    b = blob([0, 1, 0], 30, 0.05, 12)
    learner = SimpleNamespace(embed=lambda x: x * 3.0)  # any scale: vectors are normalised
    ctx = Context(
        learner, torch.cat([a[1:], b]), a[:1], torch.tensor([0]),
        np.random.default_rng(0), torch.Generator().manual_seed(0), 0,
    )  # fmt: skip
    sel = TypiClust(space="embedding").select(ctx, 1)
    assert 39 <= sel.positions[0] < 69
    assert TypiClust(space="embedding").needs == {"embed"}
    assert TypiClust(space="representation").needs == {"representation"}
    with pytest.raises(UserError, match="strategy.space"):
        TypiClust(space="pixels")


def test_the_clusters_are_cycled_in_order_when_the_batch_outgrows_them(monkeypatch):
    """Their i-th pick comes from cluster ``i % len(order)``: with 2 clusters of 6 and 8
    points (ids 0 and 1, no labels) and 5 picks, the picks alternate 1, 0, 1, 0, 1."""
    x = torch.nn.functional.normalize(torch.randn(14, 3, dtype=torch.float64), dim=1)
    monkeypatch.setattr(typicality, "kmeans_labels", lambda p, k, s: np.array([0] * 6 + [1] * 8))
    picks, _ = typiclust(x, 0, 5, seed=0)
    assert [int(p >= 6) for p in picks] == [1, 0, 1, 0, 1]
