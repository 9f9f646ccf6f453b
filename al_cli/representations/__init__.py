"""Representations (``representation=``): what a strategy (and a classifier head, ``model=head``)
sees of each input, computed once without labels. ``none`` computes nothing; ``pca``, ``simclr``
and ``torchvision`` are computed and cached under ``paths.cache_dir``, keyed by the data and
their own settings; ``file`` reads features computed elsewhere. ``representation._target_``
names the class, built with the option's keys, as in the other groups."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from al_cli.build import call, target_class
from al_cli.config import option_name
from al_cli.data import DataSplit, fingerprint
from al_cli.identity import identity_hash
from al_cli.representations.base import Features, Representation, check_features
from al_cli.representations.cache import FOLDER, cached
from al_cli.results import identity_config

CACHE_VERSION = 1
"""Part of every cache key: raised when what a representation computes changes, so files of
the earlier computation are no longer read."""


def build_representation(cfg: DictConfig) -> Representation | None:
    """The representation of ``cfg`` (the ``representation`` group), or None for one whose
    ``_target_`` is null (``representation=none``): nothing to compute."""
    if cfg.get("_target_") is None:
        return None
    cls = target_class(cfg, "representation", Representation, "a representation")
    return call(cls, "representation", cfg)


def cache_key(cfg: DictConfig, split: DataSplit) -> dict[str, Any]:
    """What a cached representation is computed from: the data's content, the dataset's and
    the representation's settings that change results (the split, the scaling, ``dim``); not
    ``dataset.val_size``, as features are computed on the whole pool, validation set and all."""
    settings = identity_config(cfg)
    return {
        "version": CACHE_VERSION,
        "data": split.fingerprint,
        "dataset": {k: v for k, v in settings["dataset"].items() if k != "val_size"},
        "representation": settings["representation"],
    }


def load_features(
    representation: Representation, cfg: DictConfig, split: DataSplit, device: torch.device
) -> tuple[Features, dict[str, Any]]:
    """The run's features on ``device``, from the cache or computed (and cached) now; and what
    run.json records of them: the option's name, the key that names them, and their file."""
    name = option_name(cfg.representation, "representation")
    rows = (len(split.pool_x), len(split.test_x))
    representation.check(split)
    if not representation.cached:
        features = check_features(representation.compute(split), split, name)
        key = fingerprint(features.pool, features.test)
        record = {"name": name, "key": key, "path": representation.source(), "from_cache": False}
        return features.to(device), record
    key = cache_key(cfg, split)
    digest = identity_hash(key)
    path = Path(cfg.paths.cache_dir) / FOLDER / f"{name}-{digest}.npz"
    features, hit = cached(
        path, key, rows, lambda: check_features(representation.compute(split), split, name)
    )
    record = {"name": name, "key": digest, "path": str(path.absolute()), "from_cache": hit}
    return features.to(device), record


def features_as_inputs(split: DataSplit, features: Features) -> DataSplit:
    """``split`` with ``features`` in place of its inputs, for a model that trains on the
    representation (``model=head``): it is fitted, evaluated and queried on them. Labels, name
    and fingerprint stay the data set's; no augmentation (it transforms images)."""
    return replace(split, pool_x=features.pool, test_x=features.test, augment=None)


__all__ = [
    "Features",
    "Representation",
    "build_representation",
    "features_as_inputs",
    "load_features",
]
