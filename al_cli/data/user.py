"""What the user's own data sources share: the path, inputs as tensors, a seeded stratified
test split, and the last checks before normalisation (npz files and image folders)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from al_cli.data.images import image_split, to_float
from al_cli.data.split import DataSplit
from al_cli.data.tabular import check_split_seed
from al_cli.errors import UserError


def user_path(path: str | None, what: str) -> Path:
    """``dataset.path`` as an existing path; one clear line when it is unset or missing."""
    if not path:
        raise UserError(f"this dataset needs dataset.path=... ({what})")
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise UserError(f"dataset.path={path} does not exist ({resolved.resolve()})")
    return resolved


def as_inputs(x: np.ndarray, what: str) -> torch.Tensor:
    """Float tensor of shape ``[N, D]`` or ``[N, C, H, W]``."""
    if x.dtype.kind not in "uifb":
        raise UserError(f"{what} must be numeric, got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = np.transpose(x, (0, 3, 1, 2))
    elif x.ndim not in (2, 4):
        raise UserError(f"{what} has shape {x.shape}; use (N, D) features or (N, C, H, W) images")
    t = to_float(np.ascontiguousarray(x))
    if not bool(torch.isfinite(t).all()):
        raise UserError(f"{what} contains NaN or infinite values")
    return t


def stratified_split(
    x: torch.Tensor, y: np.ndarray, split_seed: int, test_fraction: float
) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, np.ndarray]:
    """A pool/test split fixed by ``dataset.split_seed``, each class in proportion."""
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"dataset.test_fraction={test_fraction} must lie strictly between 0 and 1")
    check_split_seed(split_seed)
    try:
        pool_i, test_i = train_test_split(
            np.arange(len(y)), test_size=test_fraction, stratify=y, random_state=split_seed
        )
    except ValueError as err:
        raise UserError(
            f"cannot split off a stratified test set ({err}); add more examples per class, "
            f"change dataset.test_fraction, or supply a test set"
        ) from err
    pool_i, test_i = np.sort(pool_i), np.sort(test_i)
    return x[pool_i], y[pool_i], x[test_i], y[test_i]


def finish(
    name: str,
    pool_x: torch.Tensor,
    pool_y: np.ndarray,
    test_x: torch.Tensor,
    test_y: np.ndarray,
    mean: Sequence[float],
    std: Sequence[float],
    augment: bool,
    flip: bool,
    data_fingerprint: str,
    names: Sequence[str] | None = None,
) -> DataSplit:
    """Check classes, map them to 0..C-1 (the labels present, in order; ``names[label]``, when
    given, is what a label stands for), then normalise."""
    classes = np.unique(np.concatenate([pool_y, test_y]))
    if len(np.unique(pool_y)) < 2:
        raise UserError(f"dataset {name}: the pool needs at least two classes")
    pool_y, test_y = np.searchsorted(classes, pool_y), np.searchsorted(classes, test_y)
    split = image_split(
        name, pool_x, pool_y, test_x, test_y, len(classes), mean, std, augment, flip
    )
    original = [names[c] for c in classes] if names is not None else classes.tolist()
    return replace(split, fingerprint=data_fingerprint, classes=tuple(original))
