"""Features computed elsewhere (DINOv2, CLIP, an encoder of one's own), read from an .npz with
``pool`` and ``test`` arrays aligned with the data set's pool and test rows, and checked key by
key: the file is the user's, so every way it can be wrong gets one line naming the key."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from al_cli.data import DataSplit
from al_cli.errors import UserError
from al_cli.representations.base import Features, Representation

PARTS = ("pool", "test")
HOW = "np.savez(PATH, pool=[N_pool, D], test=[N_test, D]), rows in the data set's order"


def read_part(arrays: np.lib.npyio.NpzFile, key: str, rows: int, where: str) -> np.ndarray:
    """The array ``key`` of the file, refused unless it is ``[rows, D]``, numeric and finite."""
    if key not in arrays.files:
        found = ", ".join(arrays.files) or "none"
        raise UserError(f"{where} has no array {key!r} (arrays found: {found}); save it as {HOW}")
    try:
        x = arrays[key]
    except ValueError as err:  # an object array, which would need pickle
        raise UserError(f"{where}: array {key!r} cannot be read ({err}); save numbers") from None
    if x.dtype.kind not in "biuf":
        raise UserError(f"{where}: array {key!r} holds {x.dtype}, not numbers; save floats")
    if x.ndim != 2 or len(x) != rows:
        raise UserError(
            f"{where}: array {key!r} has shape {x.shape}, but the data set has {rows} {key} "
            f"inputs (expected [{rows}, D]: one row per {key} input, in its order)"
        )
    bad = np.flatnonzero(~np.isfinite(x).all(1))
    if len(bad):
        raise UserError(
            f"{where}: array {key!r} holds non-finite values (NaN or inf) in {len(bad)} rows, "
            f"the first row {bad[0]}; recompute those features"
        )
    return x


class FeaturesFile(Representation):
    """Precomputed features from ``path``; read (and checked) by every run, never copied into
    the cache: the file is already on disk, and its content is what run.json records."""

    cached = False

    def __init__(self, path: str | None = None):
        if not isinstance(path, str) or not path.strip():
            raise UserError(
                "representation.path is not set; name the .npz of features "
                "(representation.path=features.npz)"
            )
        self.path = Path(path).expanduser()

    def source(self) -> str:
        return str(self.path.absolute())

    def compute(self, split: DataSplit) -> Features:
        where = f"representation.path={self.path}"
        if not self.path.is_file():
            raise UserError(f"{where} is not a file; name an .npz of features ({HOW})")
        try:
            with np.load(self.path, allow_pickle=False) as arrays:
                pool, test = (
                    read_part(arrays, key, len(x), where)
                    for key, x in zip(PARTS, (split.pool_x, split.test_x), strict=True)
                )
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise UserError(
                f"{where} cannot be read as an .npz ({type(err).__name__}: "
                f"{' '.join(str(err).split())}); save it as {HOW}"
            ) from None
        if pool.shape[1] != test.shape[1]:
            raise UserError(
                f"{where}: array 'pool' has {pool.shape[1]} features per row and 'test' "
                f"{test.shape[1]}; both must come from the same encoder"
            )
        return Features(torch.as_tensor(pool).float(), torch.as_tensor(test).float())
