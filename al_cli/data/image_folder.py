"""The user's own images in torchvision's ImageFolder layout (``path/<class>/<image>``), or with
``path/train/<class>/...`` and ``path/test/<class>/...`` for a given test set. Every image is
decoded once (``dataset.num_workers`` processes), converted to RGB, resized to
``dataset.image_size`` square and held as one tensor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import ImageFolder

from al_cli.config import ConfigError
from al_cli.data.images import to_float
from al_cli.data.npz import finish, stratified_split, user_path
from al_cli.data.split import DataSplit


def read_folder(root: Path, size: int, workers: int) -> tuple[torch.Tensor, np.ndarray, list]:
    """uint8 images ``[N, 3, size, size]``, their labels and the class names."""
    tf = transforms.Compose([transforms.Resize((size, size)), transforms.PILToTensor()])
    try:
        data = ImageFolder(str(root), transform=tf)
    except (FileNotFoundError, OSError) as err:
        raise ConfigError(
            f"{root} is not an image folder ({err}); lay it out as {root}/<class>/<image>.png"
        ) from err
    loader = DataLoader(data, batch_size=256, num_workers=workers)
    try:
        batches = [(x, y) for x, y in loader]
    except Exception as err:
        raise ConfigError(f"an image in {root} cannot be read ({err})") from err
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches]).numpy().astype(np.int64)
    return x, y, data.classes


def load_image_folder(cfg: DictConfig) -> DataSplit:
    root = user_path(cfg, "a folder of class subfolders of images")
    if cfg.image_size < 1:
        raise ConfigError(f"dataset.image_size={cfg.image_size} must be a positive integer")
    if cfg.num_workers < 0:
        raise ConfigError(f"dataset.num_workers={cfg.num_workers} must be 0 or more")
    train, test = root / "train", root / "test"
    if train.is_dir() and test.is_dir():
        pool_x, pool_y, classes = read_folder(train, cfg.image_size, cfg.num_workers)
        test_x, test_y, test_classes = read_folder(test, cfg.image_size, cfg.num_workers)
        if test_classes != classes:
            raise ConfigError(
                f"{test} has classes {test_classes} but {train} has {classes}; "
                f"both need the same class folders"
            )
        pool_x, test_x = to_float(pool_x), to_float(test_x)
    else:
        x, y, classes = read_folder(root, cfg.image_size, cfg.num_workers)
        pool_x, pool_y, test_x, test_y = stratified_split(to_float(x), y, cfg)
    if len(classes) < 2:
        raise ConfigError(f"{root} has {len(classes)} class folder; at least two are needed")
    return finish(cfg.name, pool_x, pool_y, test_x, test_y, cfg)
