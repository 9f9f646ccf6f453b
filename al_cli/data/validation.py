"""The validation split (``dataset.val_size``): labeled inputs held out of the pool, drawn once
per data seed and stratified by class, so every strategy and run seed of a data split is
validated on the same inputs. They leave the pool: no strategy can pick them, and the oracle
never holds their labels; the trainer (``trainer.select_on_val``) and the curve
(``val_accuracy``, ``val_nll``) read them."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from al_cli.data.split import DataSplit
from al_cli.errors import UserError


def check_val_size(val_size: int, pool_size: int, needed: int, needed_key: str) -> None:
    """Refuse a validation split that is negative, or that leaves the pool fewer inputs than
    the budget labels there (``needed``, set by ``needed_key``)."""
    if val_size < 0:
        raise UserError(f"dataset.val_size={val_size} must be 0 (no validation set) or more")
    left = pool_size - val_size
    if val_size and left < needed:
        raise UserError(
            f"dataset.val_size={val_size} leaves {left} of the pool's {pool_size} inputs, "
            f"fewer than the {needed} that {needed_key} labels there; lower dataset.val_size "
            f"or {needed_key}"
        )


def class_quotas(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """How many of ``n`` to draw from each class of sizes ``counts``: each class's share of
    ``n`` as its share of the pool, rounded down, the rest to the largest remainders (equal
    remainders in random order). Never more than a class holds, for ``n`` <= ``counts.sum()``."""
    exact = n * counts / counts.sum()
    quotas = np.floor(exact).astype(np.int64)
    order = np.lexsort((rng.permutation(len(counts)), -(exact - quotas)))
    quotas[order[: n - quotas.sum()]] += 1
    return quotas


def stratified_draw(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct positions of ``labels``, sorted, each class drawn in proportion to its
    size (``class_quotas``): stratified as far as whole numbers allow."""
    classes, counts = np.unique(labels, return_counts=True)
    quotas = class_quotas(counts, n, rng)
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=q, replace=False)
        for c, q in zip(classes, quotas, strict=True)
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def hold_out(split: DataSplit, n: int, rng: np.random.Generator) -> tuple[DataSplit, np.ndarray]:
    """``split`` with ``n`` pool inputs moved to its validation set (``val_x``, ``val_y``),
    and the positions of the full pool that stay in the pool, in order (a representation's
    rows are kept by them). ``n`` = 0: the split as it is, every position kept."""
    keep = np.arange(len(split.pool_y))
    if n == 0:
        return split, keep
    val = stratified_draw(split.pool_y.numpy(), n, rng)
    keep = np.setdiff1d(keep, val, assume_unique=True)
    on_x = split.pool_x.device
    val_rows, keep_rows = torch.as_tensor(val, device=on_x), torch.as_tensor(keep, device=on_x)
    pool_x = split.pool_x[keep_rows]
    held = replace(
        split,
        pool_x=pool_x.pin_memory() if split.pool_x.is_pinned() else pool_x,
        pool_y=split.pool_y[torch.as_tensor(keep)],
        val_x=split.pool_x[val_rows],
        val_y=split.pool_y[torch.as_tensor(val)],
    )
    return held, keep
