"""What every image source shares: uint8 arrays to normalised float tensors, label checks, and
training-time augmentation that runs on whole batches of tensors (on the GPU when there is one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from al_cli.data.split import DataSplit
from al_cli.errors import UserError


def to_float(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """float32 tensor; 8-bit pixels are scaled to [0, 1]."""
    t = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    if t.dtype == torch.uint8:
        return t.float().div_(255.0)
    return t.float()


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std per channel (images ``[N, C, H, W]``) or per feature (``[N, D]``)."""
    dims = [0, *range(2, x.dim())]
    mean, std = x.mean(dim=dims), x.std(dim=dims)
    return mean, torch.where(std > 0, std, torch.ones_like(std))


def normalise(
    pool_x: torch.Tensor,
    test_x: torch.Tensor,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    name: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x - mean) / std`` per channel, in place; empty ``mean``/``std``: from the pool."""
    if mean and std:
        m, s = torch.tensor(list(mean)), torch.tensor(list(std))
        if len(m) != pool_x.shape[1] or len(s) != pool_x.shape[1]:
            raise UserError(
                f"dataset {name}: dataset.mean and dataset.std need one value per channel "
                f"({pool_x.shape[1]}), got {len(m)} and {len(s)}"
            )
        if bool((s <= 0).any()):
            raise UserError(f"dataset {name}: dataset.std={list(std)} must be positive")
    else:
        m, s = channel_stats(pool_x)
    shape = (1, -1) + (1,) * (pool_x.dim() - 2)
    for x in (pool_x, test_x):
        x.sub_(m.view(shape)).div_(s.view(shape))
    return pool_x, test_x, m, s


def check_labels(y: np.ndarray, what: str) -> np.ndarray:
    """Integer class labels (any integers: ``user.finish`` maps them to 0..C-1), as int64; one
    clear error otherwise."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise UserError(f"{what}: labels must be a 1-d array of class labels, got {y.shape}")
    if y.dtype.kind not in "iub":
        raise UserError(f"{what}: labels must be integer classes, got dtype {y.dtype}")
    return y.astype(np.int64)


@dataclass(frozen=True)
class CropFlip:
    """Random crop after padding by ``pad`` pixels of ``fill`` (the normalised value of black,
    per channel) and, if ``flip``, a horizontal flip with probability 1/2: the standard CIFAR
    augmentation, drawn per image from ``generator`` and applied to a whole batch at once."""

    pad: int
    flip: bool
    fill: tuple[float, ...]

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        p = self.pad
        fill = torch.tensor(self.fill, dtype=x.dtype, device=x.device).view(1, c, 1, 1)
        padded = fill.expand(n, c, h + 2 * p, w + 2 * p).clone()
        padded[:, :, p : p + h, p : p + w] = x
        dev = x.device
        dy = torch.randint(0, 2 * p + 1, (n,), generator=generator, device=dev)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator, device=dev)
        rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :]
        if self.flip:
            flipped = torch.rand(n, generator=generator, device=dev) < 0.5
            cols = torch.where(flipped[:, None, None, None], cols.flip(-1), cols)
        batch = torch.arange(n, device=dev)[:, None, None, None]
        chan = torch.arange(c, device=dev)[None, :, None, None]
        return padded[batch, chan, rows, cols]


def image_split(
    name: str,
    pool_x: torch.Tensor,
    pool_y: np.ndarray | torch.Tensor,
    test_x: torch.Tensor,
    test_y: np.ndarray | torch.Tensor,
    num_classes: int,
    mean: Sequence[float] = (),
    std: Sequence[float] = (),
    augment: bool = False,
    flip: bool = False,
) -> DataSplit:
    """Normalise (``dataset.mean``/``std``, else pool statistics) and attach the augmentation
    that ``dataset.augment`` asks for (random crops, and horizontal flips with ``flip``)."""
    pool_x, test_x, m, s = normalise(pool_x, test_x, mean, std, name)
    crop_flip = None
    if augment:
        if pool_x.dim() != 4:
            raise UserError(
                f"dataset.augment=true needs images (N, C, H, W); {name} has inputs of shape "
                f"{tuple(pool_x.shape[1:])}; set dataset.augment=false"
            )
        crop_flip = CropFlip(pad=4, flip=bool(flip), fill=tuple((-m / s).tolist()))
    return DataSplit(
        name=name,
        pool_x=pool_x,
        pool_y=torch.as_tensor(np.asarray(pool_y), dtype=torch.long),
        test_x=test_x,
        test_y=torch.as_tensor(np.asarray(test_y), dtype=torch.long),
        num_classes=num_classes,
        augment=crop_flip,
    )
