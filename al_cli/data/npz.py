"""The user's own arrays: one ``.npz`` file with ``x``, ``y`` and optionally ``x_test``,
``y_test`` (else a seeded stratified split). Inputs may be flat features ``[N, D]``, grey
images ``[N, H, W]`` or images ``[N, C, H, W]`` (``[N, H, W, C]`` with 1 or 3 channels is
transposed); 8-bit inputs are scaled to [0, 1]; everything is normalised by pool statistics
unless ``dataset.mean``/``std`` are given."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from sklearn.model_selection import train_test_split

from al_cli.config import ConfigError
from al_cli.data.images import check_labels, image_split, to_float
from al_cli.data.split import DataSplit


def user_path(cfg: DictConfig, what: str) -> Path:
    if not cfg.path:
        raise ConfigError(f"dataset={cfg.name} needs dataset.path=... ({what})")
    path = Path(cfg.path).expanduser()
    if not path.exists():
        raise ConfigError(f"dataset.path={cfg.path} does not exist ({path.resolve()})")
    return path


def as_inputs(x: np.ndarray, what: str) -> torch.Tensor:
    """Float tensor of shape ``[N, D]`` or ``[N, C, H, W]``."""
    if x.dtype.kind not in "uifb":
        raise ConfigError(f"{what} must be numeric, got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = np.transpose(x, (0, 3, 1, 2))
    elif x.ndim not in (2, 4):
        raise ConfigError(f"{what} has shape {x.shape}; use (N, D) features or (N, C, H, W) images")
    t = to_float(np.ascontiguousarray(x))
    if not bool(torch.isfinite(t).all()):
        raise ConfigError(f"{what} contains NaN or infinite values")
    return t


def stratified_split(
    x: torch.Tensor, y: np.ndarray, cfg: DictConfig
) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, np.ndarray]:
    """A pool/test split fixed by ``dataset.split_seed``, each class in proportion."""
    if not 0.0 < cfg.test_fraction < 1.0:
        raise ConfigError(
            f"dataset.test_fraction={cfg.test_fraction} must lie strictly between 0 and 1"
        )
    try:
        pool_i, test_i = train_test_split(
            np.arange(len(y)), test_size=cfg.test_fraction, stratify=y, random_state=cfg.split_seed
        )
    except ValueError as err:
        raise ConfigError(
            f"dataset {cfg.name}: cannot split off a stratified test set ({err}); "
            f"add more examples per class, change dataset.test_fraction, or supply a test set"
        ) from err
    pool_i, test_i = np.sort(pool_i), np.sort(test_i)
    return x[pool_i], y[pool_i], x[test_i], y[test_i]


def finish(
    name: str,
    pool_x: torch.Tensor,
    pool_y: np.ndarray,
    test_x: torch.Tensor,
    test_y: np.ndarray,
    cfg: DictConfig,
) -> DataSplit:
    """Check classes, then normalise; shared by npz and image folders."""
    classes = np.unique(np.concatenate([pool_y, test_y]))
    if len(np.unique(pool_y)) < 2:
        raise ConfigError(f"dataset {name}: the pool needs at least two classes")
    return image_split(name, pool_x, pool_y, test_x, test_y, int(classes.max()) + 1, cfg)


def load_npz(cfg: DictConfig) -> DataSplit:
    path = user_path(cfg, "an .npz file with arrays x and y")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise ConfigError(f"dataset.path={cfg.path} is not a readable .npz file ({err})") from err
    for keys in (("x", "y"), ("x_test", "y_test")):
        present = [k for k in keys if k in arrays]
        if (keys == ("x", "y") and len(present) < 2) or len(present) == 1:
            raise ConfigError(
                f"dataset.path={cfg.path} must hold arrays {' and '.join(keys)} together; "
                f"it holds {', '.join(sorted(arrays)) or 'nothing'}"
            )
    parts = {}
    for xk, yk in (("x", "y"), ("x_test", "y_test")):
        if xk not in arrays:
            continue
        x = as_inputs(arrays[xk], f"{cfg.path}: {xk}")
        y = check_labels(arrays[yk], f"{cfg.path}: {yk}")
        if len(x) != len(y):
            raise ConfigError(
                f"{cfg.path}: {xk} has {len(x)} rows but {yk} has {len(y)}; they must agree"
            )
        parts[xk] = (x, y)
    pool_x, pool_y = parts["x"]
    if "x_test" in parts:
        test_x, test_y = parts["x_test"]
        if test_x.shape[1:] != pool_x.shape[1:]:
            raise ConfigError(
                f"{cfg.path}: x_test has inputs of shape {tuple(test_x.shape[1:])}, "
                f"x has {tuple(pool_x.shape[1:])}; they must agree"
            )
    else:
        pool_x, pool_y, test_x, test_y = stratified_split(pool_x, pool_y, cfg)
    return finish(cfg.name, pool_x, pool_y, test_x, test_y, cfg)
