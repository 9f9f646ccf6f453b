"""Diversity strategies: core-set (k-center greedy) and k-means, on penultimate embeddings or on
the run's representation (``strategy.space``)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from al_cli.errors import check_choice
from al_cli.progress import steps
from al_cli.strategies.base import Context, Selection, Strategy
from al_cli.strategies.candidates import Candidates
from al_cli.strategies.space import candidate_vectors, check_space, space_needs, vectors
from al_cli.threads import one_thread

METRICS = ("euclidean", "cosine")
RECENT = 16
CELLS = 1 << 22
"""Distance-matrix entries computed at once: memory stays O(N), never N x N."""
CACHED = 1 << 20
"""Entries of ``nearest_distinct``'s distance chunks (8 MiB): closer to the cache between the
steps that read them, 30% less time than ``CELLS``-sized ones (200k points, 100 centroids)."""
NEAREST = 16
"""Candidates per centroid in ``nearest_distinct``'s first pass over the pool."""


def sq_dists(x: torch.Tensor, c: torch.Tensor, cc: torch.Tensor | None = None) -> torch.Tensor:
    """Squared euclidean distances ``[len(x), len(c)]`` in float64. ``cc``: ``c``'s squared
    row norms in float64, when the caller has them (a loop over chunks of ``x``)."""
    x, c = x.double(), c.double()
    cc = (c * c).sum(1) if cc is None else cc
    return ((x * x).sum(1)[:, None] + cc[None, :] - 2 * x @ c.T).clamp_min(0)


def min_sq_dists(x: torch.Tensor, c: torch.Tensor, cc: torch.Tensor | None = None) -> torch.Tensor:
    """Each row of ``x``'s squared distance to its nearest row of ``c``, in chunks of ``x``;
    ``c`` is converted and normed once, not once per chunk (``cc``: its norms, if known)."""
    c = c.double()
    cc = (c * c).sum(1) if cc is None else cc
    step = max(1, CELLS // max(len(c), 1))
    return torch.cat(
        [sq_dists(x[i : i + step], c, cc).min(1).values for i in range(0, len(x), step)]
    )


def upper_bounds(pool: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Upper bounds on each pool row's squared distance to its nearest center, computed in
    float32 (half the memory traffic of float64, twice the matmul speed).

    Rows are shifted by the pool mean first (distances do not change, norms shrink). With
    S = ||x'|| + max ||c'|| of the shifted rows, the shift's rounding moves a distance by at
    most 2uS and the float32 dot-product form errs by at most gamma S^2 on a squared
    distance (u = 2^-24, gamma = 2 (D + 4) u, twice the textbook bound), so
    (sqrt(d^2 + gamma S^2) + 2uS)^2 bounds the exact distance from above.
    """
    u = 2.0**-24
    gamma = 2 * (pool.shape[1] + 4) * u
    mu = pool.float().mean(0)  # any shift is exact enough: the bound does not assume the mean
    c = centers.float() - mu
    cc, c_norm = (c * c).sum(1), c.norm(dim=1).max()
    step = max(1, CELLS // max(len(c), 1))
    out = []
    for i in range(0, len(pool), step):
        x = pool[i : i + step].float() - mu
        d2 = ((x * x).sum(1)[:, None] + cc[None, :] - 2 * x @ c.T).min(1).values
        s = (x.norm(dim=1) + c_norm).double()
        out.append(((d2.double().clamp_min(0) + gamma * s * s).sqrt() + 2 * u * s) ** 2)
    return torch.cat(out)


def k_center_greedy(
    pool: torch.Tensor,
    centers: torch.Tensor,
    k: int,
    generator: torch.Generator,
    metric: str = "euclidean",
    block: int = 32,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Sener & Savarese 2018: ``k`` >= 1 times, add the pool point farthest from its nearest
    center. ``centers`` are the labeled points; with none, the first center is a random pool
    point. Returns the pool positions in the order chosen, each one's distance to its nearest
    center when it was chosen (NaN for a random first center), and the covering radius
    afterwards (the largest distance of a pool point to its nearest labeled-or-chosen point);
    distances are cosine distances for ``cosine``.

    Exact and lazy. ``best[i]`` is an upper bound on point i's squared distance to its nearest
    center: from the float32 pass (``seen[i] = -1``) or exact in float64 against the labeled
    set and the first ``seen[i]`` chosen points. Distances to the chosen set only shrink, so
    stale values stay upper bounds. Each pick makes the ``block`` largest bounds exact and
    current; once the largest of those is at least every other bound it is the true farthest
    point, the one a plain pass over the pool would find. Time O(N m d) for the float32 pass,
    then O(N + block k d) per pick; memory O(N), never N x N.
    """
    if metric == "cosine":
        pool = torch.nn.functional.normalize(pool.float(), dim=1)
        centers = torch.nn.functional.normalize(centers.float(), dim=1)
    n = len(pool)
    picks: list[int] = []
    gaps2: list[float] = []
    if len(centers) == 0:
        picks.append(int(torch.randint(n, (1,), generator=generator)))
        gaps2.append(math.nan)
        centers = pool[picks]
    best = upper_bounds(pool, centers)
    best[picks] = -math.inf
    # exact distances in float64 between rows shifted by the mean: less cancellation
    mu = pool.float().mean(0).double()
    centers = centers.double() - mu
    center_norms = (centers * centers).sum(1)  # squared norms: once per query, not per pick
    seen = torch.full((n,), -1, dtype=torch.long, device=pool.device)
    chosen = pool.new_empty((k, pool.shape[1]), dtype=torch.float64)
    chosen_norms = pool.new_empty(k, dtype=torch.float64)

    def farthest(t: int) -> int:
        """The unchosen point farthest from its nearest center, given ``t`` chosen ones."""
        while True:
            r = min(block + 1, n - len(picks))
            bounds, top = best.topk(r)
            top = top[:block]
            stale = top[seen[top] < t]
            unseen = stale[seen[stale] < 0]
            if len(unseen):
                best[unseen] = min_sq_dists(pool[unseen].double() - mu, centers, center_norms)
                seen[unseen] = 0
            stale = stale[seen[stale] < t]
            # rows refreshed lately need few centers, old ones many: do the two groups apart
            for rows in (stale[seen[stale] >= t - RECENT], stale[seen[stale] < t - RECENT]):
                if len(rows):
                    lo = int(seen[rows].min())
                    fresh = min_sq_dists(pool[rows].double() - mu, chosen[lo:t], chosen_norms[lo:t])
                    best[rows] = torch.minimum(best[rows], fresh)
            seen[stale] = t
            i = int(top[best[top].argmax()])
            if r <= block or best[i] >= bounds[-1]:
                return i

    n_new = k - len(picks)
    with one_thread():
        for t in steps(n_new, "k-center greedy", "pick"):
            i = farthest(t)
            picks.append(i)
            gaps2.append(float(best[i]))
            best[i] = -math.inf
            chosen[t] = pool[i].double() - mu
            chosen_norms[t : t + 1] = (chosen[t : t + 1] * chosen[t : t + 1]).sum(1)
        radius2 = float(best[farthest(n_new)]) if len(picks) < n else 0.0

    def distance(d2: np.ndarray) -> np.ndarray:
        return d2 / 2 if metric == "cosine" else np.sqrt(d2)

    gaps = distance(np.asarray(gaps2, dtype=np.float64))
    return np.asarray(picks, dtype=np.int64), gaps, float(distance(np.float64(radius2)))


def smallest(d: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's ``m`` smallest entries and their columns, ascending, the lower column first
    among equal entries: the order in which a first-index argmin would take them."""
    if m >= d.shape[1]:
        return d.sort(dim=1, stable=True)
    top = d.topk(m + 1, dim=1, largest=False)
    cols = top.indices[:, :m].sort(dim=1).values
    values, order = d.gather(1, cols).sort(dim=1, stable=True)
    cols = cols.gather(1, order)
    # where the m-th and (m+1)-th values are equal, topk may have split a tie: sort in full
    split = top.values[:, m] == top.values[:, m - 1]
    if split.any():
        full, full_cols = d[split].sort(dim=1, stable=True)
        values[split], cols[split] = full[:, :m], full_cols[:, :m]
    return values, cols


def nearest_untaken(
    points: torch.Tensor, centroids: torch.Tensor, m: int, taken: torch.Tensor
) -> torch.Tensor:
    """Each centroid's ``m`` nearest points that are not ``taken``: ``[k, m]`` positions in
    ``smallest``'s order (taken points fill the end of a row when fewer are left).

    One pass over the pool in chunks of rows against all centroids at once, each chunk
    converted to float64 and normed once: time O(N k D), memory O(CACHED + k m).
    """
    c = centroids.double()
    cc = (c * c).sum(1)[:, None]
    step = max(1, CACHED // len(c))
    best = c.new_empty((len(c), 0))
    best_cols = torch.empty((len(c), 0), dtype=torch.long, device=c.device)
    for lo in range(0, len(points), step):
        x = points[lo : lo + step].double()
        d_k_r = torch.sub(cc + (x * x).sum(1)[None, :], c @ x.T, alpha=2).clamp_min_(0)
        d_k_r.masked_fill_(taken[None, lo : lo + step], math.inf)
        values, cols = smallest(d_k_r, m)
        # earlier chunks first: on equal distances, the stable sort keeps the lower position
        best, order = torch.cat([best, values], 1).sort(dim=1, stable=True)
        best, order = best[:, :m], order[:, :m]
        best_cols = torch.cat([best_cols, cols + lo], 1).gather(1, order)
    return best_cols


def nearest_distinct(points: torch.Tensor, centroids: torch.Tensor) -> np.ndarray:
    """For each centroid in turn, the nearest point not already taken by an earlier one (the
    lowest position among equally near ones).

    Linear in the pool: one pass keeps each centroid's ``NEAREST`` nearest points, and the
    picks are made from those. A centroid whose candidates were all taken before it (many
    centroids sharing their nearest points) starts another pass, for itself and the centroids
    after it, with twice as many candidates and the taken points left out.
    """
    n, k = len(points), len(centroids)
    if k > n:
        raise ValueError(f"{k} centroids cannot take distinct points of {n}")
    taken = np.zeros(n, dtype=bool)
    picks: list[int] = []
    m = NEAREST
    while len(picks) < k:
        rest = centroids[len(picks) :]
        mask = torch.as_tensor(taken, device=points.device)
        for row in nearest_untaken(points, rest, min(m, n), mask).cpu().numpy():
            free = row[~taken[row]]
            if not len(free):
                break
            picks.append(int(free[0]))
            taken[free[0]] = True
        m = min(2 * m, max(NEAREST, CELLS // len(rest)))
    return np.asarray(picks, dtype=np.int64)


class CoresetStrategy(Strategy):
    """Core-set: the batch that best covers the pool in ``space`` (the classifier's embeddings
    or the run's representation), with the labeled set. Each pick's score is its distance to
    the nearest center when chosen; the covering radius after the batch is the round's
    ``coreset_radius``."""

    needs = frozenset({"embed"})
    diagnostics = ("coreset_radius",)

    def __init__(
        self, metric: str = "euclidean", candidates: int | None = None, space: str = "embedding"
    ):
        check_choice("strategy.metric", metric, METRICS)
        super().__init__(candidates)
        self.metric = metric
        self.space = check_space(space)
        self.needs = space_needs(space)

    def choose(self, ctx: Context, candidates: Candidates, k: int) -> Selection:
        pool, labeled = vectors(ctx, candidates, self.space)
        picks, gaps, radius = k_center_greedy(pool, labeled, k, ctx.generator, self.metric)
        return Selection(picks, gaps, {"coreset_radius": radius})

    def describe(self) -> dict[str, str]:
        return {"acquisition": "coreset", "selection": f"k_center_greedy_{self.metric}"}


class KMeansStrategy(Strategy):
    """Diversity baseline: k-means with k = the batch size, in ``space`` (as core-set's); the
    point nearest each centroid.
    k-means++ seeding, then at most 50 Lloyd iterations: the picks rarely move after that.
    Each pick's score is minus its distance to its centroid."""

    needs = frozenset({"embed"})

    def __init__(self, candidates: int | None = None, space: str = "embedding"):
        super().__init__(candidates)
        self.space = check_space(space)
        self.needs = space_needs(space)

    def choose(self, ctx: Context, candidates: Candidates, k: int) -> Selection:
        pool = candidate_vectors(ctx, candidates, self.space).float()
        seed = int(ctx.rng.integers(2**31 - 1))
        with warnings.catch_warnings():  # fewer distinct points than k: some clusters repeat
            warnings.simplefilter("ignore", ConvergenceWarning)
            km = KMeans(n_clusters=k, n_init=1, max_iter=50, random_state=seed).fit(
                pool.cpu().numpy()
            )
        centroids = torch.as_tensor(km.cluster_centers_, device=pool.device)
        picks = nearest_distinct(pool, centroids)
        gaps = (pool[picks].double() - centroids.double()).norm(dim=1).cpu().numpy()
        return Selection(picks, -gaps)

    def describe(self) -> dict[str, str]:
        return {"acquisition": "kmeans", "selection": "nearest_to_centroid"}
