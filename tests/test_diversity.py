"""Core-set and k-means: k-center greedy against brute force, and k-means on clear clusters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from al_cli.strategies import diversity
from al_cli.strategies.diversity import k_center_greedy, nearest_distinct, upper_bounds


def cdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distances from coordinate differences: no cancellation, unlike a matmul."""
    return torch.cdist(a.double(), b.double(), compute_mode="donot_use_mm_for_euclid_dist")


def brute_force(pool: torch.Tensor, centers: torch.Tensor, k: int) -> tuple[list[int], float]:
    """The textbook loop: full N x m distances, then a full pass over the pool per pick."""
    pool, centers = pool.double(), centers.double()
    dist = cdist(pool, centers).min(1).values
    picks = []
    for _ in range(k):
        i = int(dist.argmax())
        picks.append(i)
        dist = torch.minimum(dist, cdist(pool, pool[i : i + 1])[:, 0])
        dist[picks] = -1
    return picks, float(dist.max()) if k < len(pool) else 0.0


@pytest.mark.parametrize(
    ("n", "m", "k", "dim", "offset", "block"),
    [
        (400, 5, 60, 8, 0.0, 32),  # a few labeled points
        (1500, 30, 200, 16, 300.0, 4),  # far from the origin: loose float32 bounds, tiny blocks
        (300, 40, 300, 3, 0.0, 32),  # the whole pool, down to the last point
    ],
)
def test_k_center_greedy_equals_brute_force(n, m, k, dim, offset, block):
    g = torch.Generator().manual_seed(n)
    pool = torch.randn(n, dim, generator=g) * torch.rand(n, 1, generator=g) * 3 + offset
    centers = torch.randn(m, dim, generator=g) + offset
    picks, gaps, radius = k_center_greedy(pool, centers, k, torch.Generator(), block=block)
    expected, expected_radius = brute_force(pool, centers, k)
    assert picks.tolist() == expected
    # each pick's score: its distance to the nearest labeled or earlier pick when chosen
    for t, i in enumerate(picks):
        chosen = torch.cat([centers, pool[picks[:t]]])
        assert gaps[t] == pytest.approx(float(cdist(pool[i : i + 1], chosen).min()), rel=1e-9)
    assert radius == pytest.approx(expected_radius, rel=1e-9, abs=1e-9)
    # the reported radius is the covering radius of labeled + chosen points over the pool
    cover = cdist(pool, torch.cat([centers, pool[picks]]))
    assert radius == pytest.approx(float(cover.min(1).values.max()), rel=1e-9, abs=1e-9)


def test_k_center_greedy_cosine_and_no_labeled_points():
    g = torch.Generator().manual_seed(3)
    pool, centers = torch.randn(200, 5, generator=g), torch.randn(4, 5, generator=g)
    picks, _, radius = k_center_greedy(pool, centers, 20, torch.Generator(), metric="cosine")
    unit = torch.nn.functional.normalize
    expected, chord = brute_force(unit(pool, dim=1), unit(centers, dim=1), 20)
    assert picks.tolist() == expected and radius == pytest.approx(chord**2 / 2)
    first = {
        int(k_center_greedy(pool, pool[:0], 5, torch.Generator().manual_seed(s))[0][0])
        for s in range(6)
    }
    assert len(first) > 1  # nothing labeled: the first center is drawn by the generator
    picks, gaps, _ = k_center_greedy(pool, pool[:0], 5, torch.Generator().manual_seed(0))
    assert brute_force(pool, pool[picks[:1]], 4)[0] == picks[1:].tolist()
    assert math.isnan(gaps[0]) and np.isfinite(gaps[1:]).all()  # the random first: no score


def test_upper_bounds_hold_where_float32_cancels():
    # points close together far from the origin: float32 distances lose most digits
    g = torch.Generator().manual_seed(0)
    pool = 1000 + 1e-3 * torch.randn(500, 64, generator=g)
    centers = 1000 + 1e-3 * torch.randn(7, 64, generator=g)
    exact = cdist(pool, centers).min(1).values ** 2
    assert (upper_bounds(pool, centers) >= exact).all()


def test_duplicates_and_ties_still_give_distinct_picks():
    pool = torch.zeros(30, 4)
    pool[:10] = 1.0
    picks, _, radius = k_center_greedy(pool, pool[:1], 30, torch.Generator().manual_seed(0))
    assert sorted(picks.tolist()) == list(range(30)) and radius == 0.0


def test_nearest_distinct_takes_each_point_once():
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    centroids = torch.tensor([[0.1, 0.0], [0.2, 0.0], [4.0, 4.0]])
    assert nearest_distinct(points, centroids).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="4 centroids"):
        nearest_distinct(points, torch.cat([centroids, centroids[:1]]))


def nearest_distinct_reference(points: torch.Tensor, centroids: torch.Tensor) -> list[int]:
    """The textbook loop: all distances from coordinate differences, then for each centroid in
    turn the first position of the smallest distance among the points not yet taken."""
    p, c = points.double(), centroids.double()
    dist = ((c[:, None, :] - p[None, :, :]) ** 2).sum(2)
    taken = torch.zeros(len(p), dtype=torch.bool)
    picks = []
    for row in dist:
        i = int(row.masked_fill(taken, math.inf).argmin())  # argmin: the first of equal ones
        taken[i] = True
        picks.append(i)
    return picks


def pool_with(
    kind: str, n: int, k: int, dim: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points and centroids: continuous, or on a small integer grid (exact ties: centroids
    halfway between grid points, many points at one place), or a few places repeated."""
    if kind == "gaussian":
        points = torch.randn(n, dim, generator=g) * 3 + 50
        shift = torch.randn(k, dim, generator=g)
    else:
        if kind == "grid":
            points = torch.randint(0, 3, (n, dim), generator=g).float()
        else:  # four places, each point a copy of one: centroids share all their nearest points
            places = torch.randint(0, 2, (4, dim), generator=g).float()
            points = places[torch.randint(4, (n,), generator=g)]
        shift = 0.5 * torch.randint(-1, 2, (k, dim), generator=g)
    return points, points[torch.randint(n, (k,), generator=g)] + shift


@pytest.mark.parametrize("kind", ["gaussian", "grid", "copies"])
@pytest.mark.parametrize(
    ("n", "k", "dim", "cached", "nearest"),
    [
        (500, 40, 5, 1 << 20, 16),  # one chunk of the pool
        (700, 60, 3, 600, 4),  # chunks of 10 points; few candidates: more passes
        (300, 300, 2, 1000, 1),  # every point taken, one candidate at a time
        (50, 7, 1, 7, 2),  # one point per chunk
    ],
)
def test_nearest_distinct_equals_reference(kind, n, k, dim, cached, nearest, monkeypatch):
    monkeypatch.setattr(diversity, "CACHED", cached)
    monkeypatch.setattr(diversity, "NEAREST", nearest)
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        points, centroids = pool_with(kind, n, k, dim, g)
        expected = nearest_distinct_reference(points, centroids)
        assert nearest_distinct(points, centroids).tolist() == expected


def test_kmeans_takes_one_point_per_cluster():
    from al_cli.strategies.diversity import KMeansStrategy

    g = torch.Generator().manual_seed(0)
    means = torch.tensor([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0], [20.0, 20.0]])
    pool = torch.cat([m + torch.randn(25, 2, generator=g) for m in means])

    class Embedder:  # a learner whose embedding is the input itself
        def embed(self, x):
            return x

    ctx = type("Ctx", (), {"learner": Embedder(), "unlabeled_x": pool})()
    ctx.rng = np.random.default_rng(0)
    selection = KMeansStrategy().select(ctx, 4)
    picks = selection.positions
    assert (selection.scores <= 0).all()  # minus the distance to the centroid
    assert sorted(p // 25 for p in picks) == [0, 1, 2, 3]
    # each pick is the point nearest its cluster's mean
    for p in picks:
        cluster = pool[p // 25 * 25 : p // 25 * 25 + 25]
        assert int((cluster - cluster.mean(0)).norm(dim=1).argmin()) == p % 25
    assert math.isfinite(float(pool[picks].sum()))
