"""TypiClust (Hacohen, Dekel & Weinshall, ICML 2022, "Active Learning on a Budget").

At a low budget the most useful labels are typical ones: points in dense regions, spread
over the data. TypiClust clusters the pool into |labeled| + batch clusters and takes, from
each of the largest clusters that hold no labeled point yet, its most typical point.

Followed line by line from the authors' code (github.com/avihu111/TypiClust,
``deep-al/pycls/al/typiclust.py``, class ``TypiClust``):

- features L2-normalised (``pycls/datasets/utils/features.py``, ``load_features(...,
  normalized=True)``); the labeled set is part of the clustered pool;
- ``num_clusters = min(len(lSet) + budgetSize, MAX_NUM_CLUSTERS)`` with 500; ``KMeans`` up to
  50 clusters, else ``MiniBatchKMeans(batch_size=5000)`` (``kmeans``);
- clusters of ``cluster_size > MIN_CLUSTER_SIZE`` (5) only, sorted by labeled count, then by
  size, largest first (a stable sort: equal clusters by id); the i-th pick comes from the
  ``i % len(clusters)``-th cluster of that order (``select_samples``);
- typicality among the cluster's points not labeled or picked: ``1 / (mean_distance + 1e-5)``
  over its ``min(K_NN, len(indices) // 2)`` nearest neighbours, K_NN = 20, the point itself
  left out, distances squared as faiss's ``IndexFlatL2`` returns them (``get_nn``); the
  argmax, the first among equals.

Departures, where their code has no answer: a cluster with no point left is passed over in
that cycle (their code would fail on it), and when no cluster above the minimum size has a
point left, all clusters are cycled in the same order (their code divides by zero clusters).
A cluster with one point left gives that point, score NaN (their ``argmax`` of an empty
mean). ``n_init`` is pinned to the sklearn defaults of their time (10 for KMeans, 3 for
MiniBatchKMeans); sklearn 1.4 changed the defaults to 1.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning

from al_cli.strategies.base import Context, Selection, Strategy
from al_cli.strategies.candidates import Candidates
from al_cli.strategies.diversity import CELLS, sq_dists
from al_cli.strategies.space import check_space, space_needs, vectors

MIN_CLUSTER_SIZE = 5
MAX_NUM_CLUSTERS = 500
K_NN = 20
FULL_KMEANS = 50
"""Up to this many clusters, full KMeans; above, MiniBatchKMeans (their ``kmeans``)."""


def kmeans_labels(points: torch.Tensor, k: int, seed: int) -> np.ndarray:
    """Cluster ids ``[N]`` of ``points`` under k-means with ``k`` clusters, as their code
    clusters (KMeans up to 50 clusters, MiniBatchKMeans with batches of 5000 above)."""
    x = points.detach().float().cpu().numpy()
    if k <= FULL_KMEANS:
        km = KMeans(n_clusters=k, n_init=10, random_state=seed)
    else:
        km = MiniBatchKMeans(n_clusters=k, batch_size=5000, n_init=3, random_state=seed)
    with warnings.catch_warnings():  # fewer distinct points than k: some clusters repeat
        warnings.simplefilter("ignore", ConvergenceWarning)
        return km.fit_predict(x)


def typicality(points: torch.Tensor, k: int) -> torch.Tensor:
    """``1 / (mean squared distance to the k nearest other points + 1e-5)`` for each row,
    ``1 <= k < len(points)``; rows in chunks, memory O(CELLS), never N x N at once."""
    x = points.double()
    xx = (x * x).sum(1)
    step = max(1, CELLS // len(x))
    out = []
    for i in range(0, len(x), step):
        d2 = sq_dists(x[i : i + step], x, xx)
        # the smallest is the point itself (0): dropped, as get_nn drops faiss's first hit
        nearest = d2.topk(k + 1, dim=1, largest=False).values[:, 1:]
        out.append(1.0 / (nearest.mean(1) + 1e-5))
    return torch.cat(out)


def cluster_order(labels: np.ndarray, n_labeled: int, n_clusters: int) -> np.ndarray:
    """Cluster ids by fewest labeled points, then largest first, then id: their
    ``sort_values(['existing_count', 'neg_cluster_size'])`` on clusters by id."""
    sizes = np.bincount(labels, minlength=n_clusters)
    existing = np.bincount(labels[:n_labeled], minlength=n_clusters)
    ids = np.arange(n_clusters)
    return np.lexsort((ids, -sizes, existing))


def typiclust(
    points: torch.Tensor, n_labeled: int, k: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """TypiClust over ``points`` ``[N, D]``, the first ``n_labeled`` rows labeled: ``k``
    positions into the rest (0 = row ``n_labeled``) in order of choice, and each pick's
    typicality."""
    n = len(points)
    n_clusters = min(n_labeled + k, MAX_NUM_CLUSTERS, n)
    labels = kmeans_labels(points, n_clusters, seed)
    order = cluster_order(labels, n_labeled, n_clusters)
    sizes = np.bincount(labels, minlength=n_clusters)
    large = order[sizes[order] > MIN_CLUSTER_SIZE]
    remaining = labels.copy()
    remaining[:n_labeled] = -1  # labeled points are never picked nor measured against
    left = np.bincount(remaining[n_labeled:], minlength=n_clusters)
    picks, scores = [], []
    tier, cursor = large, 0  # their i-th pick is from cluster i % len of the order
    for _ in range(k):
        if not left[tier].any():
            tier, cursor = order, 0
        while not left[tier[cursor % len(tier)]]:
            cursor += 1
        cluster = tier[cursor % len(tier)]
        cursor += 1
        members = np.flatnonzero(remaining == cluster)
        neighbours = min(K_NN, len(members) // 2)
        if neighbours == 0:
            best, score = 0, math.nan
        else:
            typ = typicality(points[torch.as_tensor(members, device=points.device)], neighbours)
            best = int(typ.argmax())
            score = float(typ[best])
        picks.append(int(members[best]))
        scores.append(score)
        remaining[members[best]] = -1
        left[cluster] -= 1
    return np.asarray(picks, dtype=np.int64) - n_labeled, np.asarray(scores)


class TypiClust(Strategy):
    """TypiClust: the most typical point of each of the largest clusters without a label.
    Each pick's score is its typicality (1 / mean squared distance to its nearest neighbours
    in its cluster)."""

    def __init__(self, space: str = "representation", candidates: int | None = None):
        self.space = check_space(space)
        super().__init__(candidates)
        self.needs = space_needs(space)

    def choose(self, ctx: Context, candidates: Candidates, k: int) -> Selection:
        pool, labeled = vectors(ctx, candidates, self.space)
        points = F.normalize(torch.cat([labeled, pool]).float(), dim=1)
        seed = int(ctx.rng.integers(2**31 - 1))
        picks, scores = typiclust(points, len(labeled), k, seed)
        return Selection(picks, scores)

    def describe(self) -> dict[str, str]:
        return {"acquisition": "typicality", "selection": f"typiclust_{self.space}"}
