"""The user's own images in torchvision's ImageFolder layout (``path/<class>/<image>``), or with
``path/train/<class>/...`` and ``path/test/<class>/...`` for a given test set. Every image is
decoded once (``dataset.num_workers`` processes), converted to RGB, resized to
``dataset.image_size`` square and held as one tensor."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.datasets import ImageFolder

from al_cli.data.images import to_float
from al_cli.data.split import DataSplit, fingerprint, loader
from al_cli.data.user import finish, stratified_split, user_path
from al_cli.errors import UserError


class UnreadableImage(Exception):
    """An image file that cannot be decoded; the message starts with its path."""


def read_image(path: str) -> Image.Image:
    """torchvision's loader (PIL, converted to RGB), naming the file when it fails."""
    try:
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")
    except Exception as err:
        reason = " ".join(str(err).split())
        raise UnreadableImage(f"{path} ({type(err).__name__}: {reason})") from None


def read_folder(
    root: Path, size: int, workers: int
) -> tuple[torch.Tensor, np.ndarray, list[str], str]:
    """uint8 images ``[N, 3, size, size]``, their labels, the class names and a fingerprint of
    the files (their paths below ``root``, classes and bytes)."""
    tf = transforms.Compose([transforms.Resize((size, size)), transforms.PILToTensor()])
    try:
        data = ImageFolder(str(root), transform=tf, loader=read_image)
    except (FileNotFoundError, OSError) as err:
        raise UserError(
            f"{root} is not an image folder ({err}); lay it out as {root}/<class>/<image>.png"
        ) from err
    loader = DataLoader(data, batch_size=256, num_workers=workers)
    try:
        batches = [(x, y) for x, y in loader]
    except UnreadableImage as err:
        # from a worker process, the message is that worker's traceback: its last line is ours
        line = str(err).strip().splitlines()[-1]
        raise UserError(f"cannot read the image {line.split('UnreadableImage: ')[-1]}") from None
    except Exception as err:
        reason = " ".join(str(err).split())
        raise UserError(f"an image in {root} cannot be read ({reason})") from err
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches]).numpy().astype(np.int64)
    return x, y, data.classes, files_fingerprint(root, data.samples)


def files_fingerprint(root: Path, samples: list[tuple[str, int]]) -> str:
    """The fingerprint of the image files: each one's path below ``root``, class and bytes."""
    parts = []
    for path, label in samples:
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        parts.append(f"{Path(path).relative_to(root).as_posix()}\0{label}\0{digest}")
    return fingerprint(*parts)


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
        pool_x, pool_y, classes, pool_files = read_folder(train, image_size, num_workers)
        test_x, test_y, test_classes, test_files = read_folder(test, image_size, num_workers)
        if test_classes != classes:
            raise UserError(
                f"{test} has classes {test_classes} but {train} has {classes}; "
                f"both need the same class folders"
            )
        pool_x, test_x = to_float(pool_x), to_float(test_x)
        files = fingerprint("train", pool_files, "test", test_files)
    else:
        x, y, classes, files = read_folder(root, image_size, num_workers)
        pool_x, pool_y, test_x, test_y = stratified_split(to_float(x), y, split_seed, test_fraction)
    if len(classes) < 2:
        raise UserError(f"{root} has {len(classes)} class folder; at least two are needed")
    return finish(
        "image_folder", pool_x, pool_y, test_x, test_y, mean, std, augment, flip, files, classes
    )
