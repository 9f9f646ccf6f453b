"""The user's own arrays: one ``.npz`` file with ``x``, ``y`` and optionally ``x_test``,
``y_test`` (else a seeded stratified split). Inputs may be flat features ``[N, D]``, grey
images ``[N, H, W]`` or images ``[N, C, H, W]`` (``[N, H, W, C]`` with 1 or 3 channels is
transposed); 8-bit inputs are scaled to [0, 1]; everything is normalised by pool statistics
unless ``dataset.mean``/``std`` are given."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence

import numpy as np

from al_cli.data.images import check_labels
from al_cli.data.split import DataSplit, fingerprint, loader
from al_cli.data.user import as_inputs, finish, stratified_split, user_path
from al_cli.errors import UserError


@loader
def load_npz(
    path: str | None = None,
    split_seed: int = 0,
    test_fraction: float = 0.25,
    mean: Sequence[float] = (),
    std: Sequence[float] = (),
    augment: bool = False,
    flip: bool = True,
) -> DataSplit:
    file = user_path(path, "an .npz file with arrays x and y")
    try:
        with np.load(file, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise UserError(f"dataset.path={path} is not a readable .npz file ({err})") from err
    for keys in (("x", "y"), ("x_test", "y_test")):
        present = [k for k in keys if k in arrays]
        if (keys == ("x", "y") and len(present) < 2) or len(present) == 1:
            raise UserError(
                f"dataset.path={path} must hold arrays {' and '.join(keys)} together; "
                f"it holds {', '.join(sorted(arrays)) or 'nothing'}"
            )
    used = [k for k in ("x", "y", "x_test", "y_test") if k in arrays]
    data_fingerprint = fingerprint(*[p for k in used for p in (k, arrays[k])])
    parts = {}
    for xk, yk in (("x", "y"), ("x_test", "y_test")):
        if xk not in arrays:
            continue
        x = as_inputs(arrays[xk], f"{path}: {xk}")
        y = check_labels(arrays[yk], f"{path}: {yk}")
        if len(x) != len(y):
            raise UserError(
                f"{path}: {xk} has {len(x)} rows but {yk} has {len(y)}; they must agree"
            )
        parts[xk] = (x, y)
    pool_x, pool_y = parts["x"]
    if "x_test" in parts:
        test_x, test_y = parts["x_test"]
        if test_x.shape[1:] != pool_x.shape[1:]:
            raise UserError(
                f"{path}: x_test has inputs of shape {tuple(test_x.shape[1:])}, "
                f"x has {tuple(pool_x.shape[1:])}; they must agree"
            )
    else:
        pool_x, pool_y, test_x, test_y = stratified_split(pool_x, pool_y, split_seed, test_fraction)
    return finish("npz", pool_x, pool_y, test_x, test_y, mean, std, augment, flip, data_fingerprint)
