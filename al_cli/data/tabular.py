"""Small tabular data sets that need no download: scikit-learn's digits and synthetic blobs."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits as sk_load_digits
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from al_cli.data.split import DataSplit, fingerprint, loader
from al_cli.errors import UserError, check_choice
from al_cli.seeding import check_seed


def check_split_seed(split_seed: int) -> None:
    """scikit-learn's ``random_state`` takes 32-bit seeds: the same range as ``seed``."""
    check_seed("dataset.split_seed", split_seed)


SCALINGS = ("image", "feature")


def split_and_standardise(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    test_fraction: float,
    split_seed: int,
    scaling: str,
) -> DataSplit:
    """Stratified pool/test split fixed by ``split_seed``, scaled by pool statistics: each
    feature by its own mean and standard deviation (``feature``), or all features by one
    (``image``, for pixels: a pixel that is almost always blank then stays small)."""
    check_choice("dataset.scaling", scaling, SCALINGS)
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"dataset.test_fraction={test_fraction} must lie strictly between 0 and 1")
    check_split_seed(split_seed)
    try:
        pool_x, test_x, pool_y, test_y = train_test_split(
            x, y, test_size=test_fraction, stratify=y, random_state=split_seed
        )
    except ValueError as err:
        raise UserError(
            f"dataset {name}: cannot split off a stratified test set of {len(y)} inputs "
            f"({' '.join(str(err).split())}); use more inputs or another dataset.test_fraction"
        ) from None
    axis = 0 if scaling == "feature" else None
    mean = pool_x.mean(axis=axis)
    std = np.atleast_1d(pool_x.std(axis=axis))
    std[std == 0] = 1.0
    return DataSplit(
        name=name,
        pool_x=torch.as_tensor((pool_x - mean) / std, dtype=torch.float32),
        pool_y=torch.as_tensor(pool_y, dtype=torch.long),
        test_x=torch.as_tensor((test_x - mean) / std, dtype=torch.float32),
        test_y=torch.as_tensor(test_y, dtype=torch.long),
        num_classes=int(y.max()) + 1,
        fingerprint=fingerprint(x, y),
    )


@loader
def load_digits(
    split_seed: int = 0, test_fraction: float = 0.25, scaling: str = "image"
) -> DataSplit:
    """The 8x8 digits bundled with scikit-learn, as 64 features scaled from the pool.

    ``image`` scaling (one mean and standard deviation for all pixels) is the default: per
    pixel, the few images that ink an almost always blank pixel get values up to 37 standard
    deviations, and MC Dropout's BALD spent 34-42% of its labels on them
    (docs/benchmarks/digits_defaults.md)."""
    data = sk_load_digits()
    return split_and_standardise(
        "digits", data.data, data.target, test_fraction, split_seed, scaling
    )


@loader
def load_synthetic(
    split_seed: int = 0,
    test_fraction: float = 0.25,
    n_samples: int = 600,
    n_features: int = 10,
    n_informative: int = 6,
    n_classes: int = 3,
    class_sep: float = 1.0,
) -> DataSplit:
    """Seeded ``make_classification`` data; ``split_seed`` fixes both the data and its split."""
    check_split_seed(split_seed)
    for key, value in (("n_samples", n_samples), ("n_features", n_features)):
        if value < 1:
            raise UserError(f"dataset.{key}={value} must be a positive integer")
    if n_informative < 1:
        raise UserError(f"dataset.n_informative={n_informative} must be a positive integer")
    if not class_sep > 0:
        raise UserError(f"dataset.class_sep={class_sep} must be positive")
    if n_informative > n_features:
        raise UserError(
            f"dataset.n_informative={n_informative} exceeds dataset.n_features="
            f"{n_features}; lower n_informative or raise n_features"
        )
    if n_classes < 2 or 2**n_informative < 2 * n_classes:
        raise UserError(
            f"dataset.n_classes={n_classes} needs 2 <= n_classes and "
            f"2**n_informative >= 2*n_classes; raise dataset.n_informative"
        )
    x, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_informative,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=2,
        class_sep=class_sep,
        random_state=split_seed,
    )
    # features of unrelated scales (no option to choose): each by its own
    return split_and_standardise("synthetic", x, y, test_fraction, split_seed, "feature")
