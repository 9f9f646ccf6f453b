"""The one shape every data source returns, and the dispatch from a config to its loader."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hydra.utils import get_method
from omegaconf import DictConfig

from al_cli.config import ConfigError


@dataclass(frozen=True)
class DataSplit:
    """Pool inputs with their (hidden) labels, and a held-out test set.

    Only the Oracle keeps ``pool_y`` once the loop starts; strategies never see it.
    """

    name: str
    pool_x: torch.Tensor
    pool_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.pool_x.shape[1:])


def load_dataset(cfg: DictConfig) -> DataSplit:
    """Call the loader named by ``dataset._target_`` with the dataset config."""
    try:
        loader = get_method(cfg._target_)
    except Exception as err:  # Hydra wraps import errors in its own type
        raise ConfigError(
            f"dataset._target_={cfg._target_!r} cannot be imported; check the dataset config"
        ) from err
    split = loader(cfg)
    check_split(split)
    return split


def check_split(split: DataSplit) -> None:
    """Refuse data a learner cannot use, naming the problem."""
    for part, x, y in [("pool", split.pool_x, split.pool_y), ("test", split.test_x, split.test_y)]:
        if len(x) != len(y):
            raise ConfigError(
                f"dataset {split.name}: {part} has {len(x)} inputs but {len(y)} labels"
            )
        if len(x) == 0:
            raise ConfigError(f"dataset {split.name}: the {part} set is empty")
        if y.dtype != torch.long:
            raise ConfigError(f"dataset {split.name}: {part} labels must be integer classes")
        if int(y.min()) < 0 or int(y.max()) >= split.num_classes:
            raise ConfigError(
                f"dataset {split.name}: {part} labels must lie in 0..{split.num_classes - 1}"
            )
    if split.num_classes < 2:
        raise ConfigError(f"dataset {split.name}: needs at least two classes")
