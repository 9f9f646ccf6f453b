"""Whitened PCA of the flattened inputs, fitted on the pool alone (the test set never shapes
it), computed in float64 on the CPU so that every machine caches the same features."""

from __future__ import annotations

import torch

from al_cli.data import DataSplit
from al_cli.errors import UserError
from al_cli.representations.base import Features, Representation

CHUNK = 4096
"""Pool rows converted to float64 at once: memory O(CHUNK D + D^2), never O(N D) in float64."""
MAX_WIDTH = 16384
"""Values per input above which the D x D covariance (2 GiB in float64 here) is refused."""
RANK_TOLERANCE = 1e-10
"""A direction whose variance is below this fraction of the largest is taken as none."""


def check_dim(dim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise UserError(f"representation.dim={dim!r} must be a positive integer")
    return dim


def check_shape(n: int, d: int, dim: int) -> None:
    """Refuse ``dim`` components of ``n`` inputs of ``d`` values, or a covariance too large."""
    if d > MAX_WIDTH:
        raise UserError(
            f"representation=pca on inputs of {d} values needs a {d} x {d} covariance; use "
            f"representation=file with features computed elsewhere, or smaller inputs"
        )
    if dim > min(d, n - 1):
        raise UserError(
            f"representation.dim={dim} exceeds what {n} pool inputs of {d} values have "
            f"({min(d, n - 1)} components at most); lower representation.dim"
        )


def whitened_pca(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean ``[D]`` and projection ``[D, dim]`` of ``x`` ``[N, D]``: ``(x - mean) @
    projection`` has zero mean and identity covariance (with N - 1, as ``np.cov``) on ``x``.
    Components by decreasing variance, each signed so that its largest coordinate (the first,
    among equal ones) is positive: the result does not depend on the eigen-solver's signs."""
    n, d = x.shape
    check_shape(n, d, dim)
    chunks = [x[i : i + CHUNK] for i in range(0, n, CHUNK)]
    mean = sum(c.double().sum(0) for c in chunks) / n
    cov = torch.zeros(d, d, dtype=torch.float64)
    for c in chunks:
        centred = c.double() - mean
        cov += centred.T @ centred
    variance, vectors = torch.linalg.eigh(cov / (n - 1))  # ascending
    variance, vectors = variance.flip(0)[:dim], vectors.flip(1)[:, :dim]
    rank = int((variance > variance[0] * RANK_TOLERANCE).sum()) if variance[0] > 0 else 0
    if rank < dim:
        raise UserError(
            f"representation.dim={dim}, but the pool varies in only {rank} directions; set "
            f"representation.dim to at most {rank}"
        )
    peak = vectors.abs().argmax(0)
    signs = torch.sign(vectors[peak, torch.arange(dim)])
    return mean, vectors * signs / variance.sqrt()


def project(x: torch.Tensor, mean: torch.Tensor, projection: torch.Tensor) -> torch.Tensor:
    """``(x - mean) @ projection`` in float64 chunks, returned as float32."""
    return torch.cat(
        [((x[i : i + CHUNK].double() - mean) @ projection).float() for i in range(0, len(x), CHUNK)]
    )


class PCA(Representation):
    """Whitened PCA to ``dim`` components, fitted on the flattened pool inputs."""

    def __init__(self, dim: int):
        self.dim = check_dim(dim)

    def check(self, split: DataSplit) -> None:
        check_shape(len(split.pool_x), split.pool_x[0].numel(), self.dim)

    def compute(self, split: DataSplit) -> Features:
        pool = split.pool_x.detach().cpu().reshape(len(split.pool_x), -1)
        test = split.test_x.detach().cpu().reshape(len(split.test_x), -1)
        mean, projection = whitened_pca(pool, self.dim)
        return Features(project(pool, mean, projection), project(test, mean, projection))
