"""ProbCover (Yehuda, Dekel, Hacohen & Weinshall, NeurIPS 2022, "Active Learning Through a
Covering Lens"): greedy maximum coverage of the pool by δ-balls.

A point covers the pool points within δ of it. The batch is chosen greedily to cover as many
points not yet covered (by the labeled set or earlier picks) as it can, so it lands in dense
regions and spreads out, which is what pays at a low budget.

Followed from the authors' code (github.com/avihu111/TypiClust, ``deep-al/pycls/al/
prob_cover.py``, class ``ProbCover``):

- L2-normalised features (``load_features(..., normalized=True)``), the labeled set first in
  the pool (``relevant_indices = concatenate([lSet, uSet])``);
- the directed graph x -> y iff ``l2(x, y) < delta``, self-loops included, built in batches of
  rows and kept as an edge list (``construct_graph``): here a sparse matrix, memory O(edges);
- the labeled points' out-neighbours covered and their in-edges removed, then ``budgetSize``
  times: the point of highest out-degree in what is left (``degrees.argmax()``: the lowest
  position among equals), its out-neighbours covered (``select_samples``).

Departures: their batches skip the pool's last ``len % 500`` rows (``range(len // batch_size)``);
here every row is in the graph. Once nothing is left to cover their ``argmax`` returns row 0,
a labeled point; here the pick is uniform among the candidates not yet picked, from the
round's generator, score 0 (scikit-activeml's ``rand_argmax`` does the same).

δ, when not given: the paper's purity heuristic (Sec. 4.2). Points are pseudo-labeled by
k-means with k = the number of classes; a point's ball is pure when every point in it shares
its pseudo-label; δ is the largest of ``DELTAS`` whose share of pure balls is at least
``alpha``, the smallest of them when none is.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from al_cli.errors import UserError
from al_cli.strategies.base import Context, Selection, Strategy
from al_cli.strategies.candidates import Candidates
from al_cli.strategies.diversity import CELLS, sq_dists
from al_cli.strategies.space import check_space, space_needs, vectors
from al_cli.strategies.typicality import kmeans_labels

DELTAS = np.round(np.arange(0.05, 2.0 + 1e-9, 0.05), 2)
"""The purity heuristic's grid: distances between unit vectors lie in [0, 2]."""


def chunk_rows(n: int) -> int:
    """Rows of an ``[rows, n]`` distance matrix that fit in ``CELLS`` entries."""
    return max(1, CELLS // max(n, 1))


def ball_graph(points: torch.Tensor, delta: float) -> sp.csr_matrix:
    """The δ-ball graph ``[N, N]``: entry (x, y) when ``||x - y|| < delta`` (their strict
    ``dist < delta``), self-loops included. Built from chunks of rows; only edges are kept."""
    x = points.double()
    xx = (x * x).sum(1)
    rows, cols = [], []
    step = chunk_rows(len(x))
    for i in range(0, len(x), step):
        r, c = (sq_dists(x[i : i + step], x, xx) < delta * delta).nonzero(as_tuple=True)
        rows.append(r.cpu().numpy() + i)
        cols.append(c.cpu().numpy())
    rows_, cols_ = np.concatenate(rows), np.concatenate(cols)
    data = np.ones(len(rows_), dtype=bool)
    return sp.csr_matrix((data, (rows_, cols_)), shape=(len(x), len(x)))


def nearest_other(points: torch.Tensor, labels: np.ndarray) -> torch.Tensor:
    """Each point's distance to the nearest point with another pseudo-label (inf: none). A
    ball of radius δ is pure exactly when this is at least δ."""
    x = points.double()
    xx = (x * x).sum(1)
    lab = torch.as_tensor(labels, device=x.device)
    out = []
    step = chunk_rows(len(x))
    for i in range(0, len(x), step):
        d2 = sq_dists(x[i : i + step], x, xx)
        d2[lab[i : i + step, None] == lab[None, :]] = torch.inf
        out.append(d2.min(1).values.sqrt())
    return torch.cat(out)


def purity_delta(points: torch.Tensor, labels: np.ndarray, alpha: float) -> float:
    """The largest δ of ``DELTAS`` at which at least ``alpha`` of the balls are pure (their
    points all share the centre's pseudo-label); the smallest when none is."""
    gap = nearest_other(points, labels).cpu().numpy()
    purity = (gap[None, :] >= DELTAS[:, None]).mean(1)  # non-increasing in δ
    ok = np.flatnonzero(purity >= alpha)
    return float(DELTAS[ok[-1]] if len(ok) else DELTAS[0])


def max_coverage(
    graph: sp.csr_matrix, n_labeled: int, k: int, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray, float]:
    """Greedy max coverage on ``graph``, the first ``n_labeled`` rows labeled: ``k`` positions
    into the other rows (0 = row ``n_labeled``) in order of choice, the points each newly
    covered, and the share of all rows covered after the batch.

    Out-degrees count uncovered out-neighbours; covering y lowers the degree of each of y's
    in-neighbours by one (rows of the transposed graph): O(edges) in all."""
    n = graph.shape[0]
    into = graph.T.tocsr()
    covered = np.zeros(n, dtype=bool)
    degree = graph.getnnz(axis=1).astype(np.int64)

    def cover(ys: np.ndarray) -> int:
        new = np.unique(ys[~covered[ys]])
        covered[new] = True
        degree[:] -= np.bincount(into[new].indices, minlength=n)
        return len(new)

    cover(graph[np.arange(n_labeled)].indices)
    free = np.ones(n, dtype=bool)
    free[:n_labeled] = False
    picks, gains = [], []
    for _ in range(k):
        i = int(np.argmax(np.where(free, degree, -1)))
        if degree[i] <= 0:  # nothing left to cover: a random candidate
            rest = np.flatnonzero(free)
            i = int(rest[int(torch.randint(len(rest), (1,), generator=generator))])
        gains.append(cover(graph[i].indices))
        picks.append(i)
        free[i] = False
    return np.asarray(picks, dtype=np.int64) - n_labeled, np.asarray(gains, float), covered.mean()


def num_classes(ctx: Context) -> int:
    """The classifier's number of classes (the pseudo-labels' k); for a posterior without a
    network factory, the number of labels revealed so far (at least 2)."""
    factory = getattr(ctx.learner.posterior, "factory", None)
    if factory is not None:
        return int(factory.num_classes)
    return max(2, len(torch.unique(ctx.labeled_y)))


class ProbCover(Strategy):
    """ProbCover: greedy max coverage of the pool by δ-balls. Each pick's score is the number
    of points it newly covers; the round's ``probcover_coverage`` is the share of the pool
    (labeled and candidates) covered after the batch, ``probcover_delta`` the δ used."""

    diagnostics = ("probcover_coverage", "probcover_delta")

    def __init__(
        self,
        space: str = "representation",
        delta: float | None = None,
        alpha: float = 0.95,
        candidates: int | None = None,
    ):
        self.space = check_space(space)
        if delta is not None and not delta > 0:
            raise UserError(
                f"strategy.delta={delta} must be a positive ball radius, or null to choose it "
                f"by the purity heuristic (strategy.alpha)"
            )
        if not 0 < alpha <= 1:
            raise UserError(f"strategy.alpha={alpha} must be a share of pure balls in (0, 1]")
        super().__init__(candidates)
        self.delta = None if delta is None else float(delta)
        self.alpha = float(alpha)
        self.needs = space_needs(space)

    def choose(self, ctx: Context, candidates: Candidates, k: int) -> Selection:
        pool, labeled = vectors(ctx, candidates, self.space)
        points = F.normalize(torch.cat([labeled, pool]).float(), dim=1)
        delta = self.delta
        if delta is None:
            seed = int(ctx.rng.integers(2**31 - 1))
            clusters = min(num_classes(ctx), len(points))
            delta = purity_delta(points, kmeans_labels(points, clusters, seed), self.alpha)
        graph = ball_graph(points, delta)
        picks, gains, coverage = max_coverage(graph, len(labeled), k, ctx.generator)
        diagnostics = {"probcover_coverage": coverage, "probcover_delta": delta}
        return Selection(picks, gains, diagnostics)

    def describe(self) -> dict[str, str]:
        return {"acquisition": "probcover", "selection": f"max_coverage_{self.space}"}
