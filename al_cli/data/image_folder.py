"""The user's own images in torchvision's ImageFolder layout (``path/<class>/<image>``), or with
``path/train/<class>/...`` and ``path/test/<class>/...`` for a given test set. Every image is
decoded once (``dataset.num_workers`` processes), converted to RGB, resized to
``dataset.image_size`` square and held as one tensor."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import ImageFolder

from al_cli.data.images import to_float
from al_cli.data.split import DataSplit, loader
from al_cli.data.user import finish, stratified_split, user_path
from al_cli.errors import UserError


def read_folder(root: Path, size: int, workers: int) -> tuple[torch.Tensor, np.ndarray, list]:
    """uint8 images ``[N, 3, size, size]``, their labels and the class names."""
    tf = transforms.Compose([transforms.Resize((size, size)), transforms.PILToTensor()])
    try:
        data = ImageFolder(str(root), transform=tf)
    except (FileNotFoundError, OSError) as err:
        raise UserError(
            f"{root} is not an image folder ({err}); lay it out as {root}/<class>/<image>.png"
        ) from err
    loader = DataLoader(data, batch_size=256, num_workers=workers)
    try:
        batches = [(x, y) for x, y in loader]
    except Exception as err:
        raise UserError(f"an image in {root} cannot be read ({err})") from err
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches]).numpy().astype(np.int64)
    return x, y, data.classes


@loader
def load_image_folder(
    path: str | None = None,
    split_seed: int = 0,
    test_fraction: float = 0.25,
    mean: Sequence[float] = (),
    std: Sequence[float] = (),
    augment: bool = False,
    flip: bool = True,
    image_size: int = 32,
    num_workers: int = 0,
) -> DataSplit:
    root = user_path(path, "a folder of class subfolders of images")
    if image_size < 1:
        raise UserError(f"dataset.image_size={image_size} must be a positive integer")
    if num_workers < 0:
        raise UserError(f"dataset.num_workers={num_workers} must be 0 or more")
    train, test = root / "train", root / "test"
    if train.is_dir() and test.is_dir():
        pool_x, pool_y, classes = read_folder(train, image_size, num_workers)
        test_x, test_y, test_classes = read_folder(test, image_size, num_workers)
        if test_classes != classes:
            raise UserError(
                f"{test} has classes {test_classes} but {train} has {classes}; "
                f"both need the same class folders"
            )
        pool_x, test_x = to_float(pool_x), to_float(test_x)
    else:
        x, y, classes = read_folder(root, image_size, num_workers)
        pool_x, pool_y, test_x, test_y = stratified_split(to_float(x), y, split_seed, test_fraction)
    if len(classes) < 2:
        raise UserError(f"{root} has {len(classes)} class folder; at least two are needed")
    return finish("image_folder", pool_x, pool_y, test_x, test_y, mean, std, augment, flip)
