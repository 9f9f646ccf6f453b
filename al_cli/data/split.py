"""The one shape every data source returns, and the dispatch from a config to its loader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from hydra.utils import get_method
from omegaconf import DictConfig

from al_cli.config import ConfigError


@dataclass(frozen=True)
class DataSplit:
    """Pool inputs with their (hidden) labels, and a held-out test set.

    Only the Oracle keeps ``pool_y`` once the loop starts; strategies never see it.
    ``augment(x, generator) -> x``, when set, transforms each training batch (never the
    inputs that are scored or evaluated).
    """

    name: str
    pool_x: torch.Tensor
    pool_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None

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
    if cfg.get("augment") and split.augment is None:
        raise ConfigError(
            f"dataset.augment=true but dataset={cfg.name} has no image augmentation "
            f"(it applies to images); set dataset.augment=false"
        )
    return split


def place_inputs(split: DataSplit, device: torch.device) -> DataSplit:
    """On CUDA, hold the inputs on the GPU when they take at most half its free memory (no
    copy per batch at all), else in pinned memory (asynchronous copies). Labels stay on the CPU.
    """
    if device.type != "cuda":
        return split
    size = sum(t.element_size() * t.nelement() for t in (split.pool_x, split.test_x))
    free, _ = torch.cuda.mem_get_info(device)
    if size <= free // 2:
        return replace(split, pool_x=split.pool_x.to(device), test_x=split.test_x.to(device))
    return replace(split, pool_x=split.pool_x.pin_memory(), test_x=split.test_x.pin_memory())


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
