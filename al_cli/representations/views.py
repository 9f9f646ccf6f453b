"""Inputs as an encoder sees them, and the random views SimCLR contrasts (Chen et al. 2020).

A data set hands over its inputs normalised (per channel, by pool statistics or the user's
``dataset.mean``/``std``). That is an affine map of the pixels, so the pool's per-channel
minimum and maximum take them back to [0, 1] (exactly, when the pool holds black and white
pixels, as 8-bit images do): colour jitter and pretrained weights' transforms are defined there.
Every draw comes from a ``torch.Generator``, batch by batch, on the inputs' device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from al_cli.errors import UserError

CROP_SCALE = (0.3, 1.0)
"""The area a random crop keeps: SimCLR's (0.08, 1) leaves too little of a 28x28 digit."""
CROP_RATIO = (3 / 4, 4 / 3)
JITTER = 0.4
"""Brightness, contrast and saturation factors drawn from [1 - JITTER, 1 + JITTER] (SimCLR's
CIFAR strength 0.5 x 0.8), applied with probability ``JITTER_P``; grey with ``GREY_P``."""
JITTER_P, GREY_P = 0.8, 0.2
CORRUPTION = 0.6
"""Flat inputs (SCARF, Bahri et al. 2022): the share of features replaced by the same feature
of another pool input."""


def check_image_shape(image_shape: Sequence[int] | None) -> tuple[int, ...] | None:
    """``representation.image_shape``: null, or ``[C, H, W]`` of positive sizes."""
    if image_shape is None:
        return None
    shape = tuple(image_shape)
    if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, int) for s in shape):
        raise UserError(
            f"representation.image_shape={list(shape)} must be [channels, height, width] "
            f"(e.g. [1, 8, 8] for digits) or null"
        )
    if min(shape) < 1:
        raise UserError(f"representation.image_shape={list(shape)} must hold positive sizes")
    return shape


def as_encoder_inputs(x: torch.Tensor, image_shape: tuple[int, ...] | None) -> torch.Tensor:
    """``x`` ``[N, ...]`` as images ``[N, C, H, W]`` (3-d inputs, or flat ones viewed as
    ``image_shape``) or as vectors ``[N, D]`` (everything else, flattened)."""
    n = len(x)
    if image_shape is not None:
        if x[0].numel() != math.prod(image_shape):
            raise UserError(
                f"representation.image_shape={list(image_shape)} holds "
                f"{math.prod(image_shape)} values, but each input has {x[0].numel()}; set it "
                f"to the inputs' own shape or null"
            )
        return x.reshape(n, *image_shape)
    return x if x.dim() == 4 else x.reshape(n, -1)


def pixel_range(pool: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per channel of images ``[N, C, H, W]``: the pool's minimum and its range, each
    ``[1, C, 1, 1]`` (a constant channel gets range 1)."""
    lo = pool.amin(dim=(0, 2, 3), keepdim=True)
    span = pool.amax(dim=(0, 2, 3), keepdim=True) - lo
    return lo, torch.where(span > 0, span, torch.ones_like(span))


@dataclass(frozen=True)
class Standardise:
    """[0, 1] images to zero mean, unit variance per channel, by the pool's statistics."""

    mean: torch.Tensor
    std: torch.Tensor

    @staticmethod
    def of(unit_pool: torch.Tensor) -> Standardise:
        mean = unit_pool.mean(dim=(0, 2, 3), keepdim=True)
        std = unit_pool.std(dim=(0, 2, 3), keepdim=True)
        return Standardise(mean, torch.where(std > 0, std, torch.ones_like(std)))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def uniform(n: int, low: float, high: float, g: torch.Generator, device: torch.device):
    return low + (high - low) * torch.rand(n, generator=g, device=device)


def resized_crop(x: torch.Tensor, g: torch.Generator, flip: bool) -> torch.Tensor:
    """A random crop of each image (area in ``CROP_SCALE``, aspect in ``CROP_RATIO``, anywhere
    inside it), resized back to the image's size; mirrored half the time when ``flip``."""
    n, dev = len(x), x.device
    area = uniform(n, *CROP_SCALE, g, dev)
    log_ratio = uniform(n, math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]), g, dev)
    w = (area * log_ratio.exp()).sqrt().clamp(max=1.0)
    h = (area / log_ratio.exp()).sqrt().clamp(max=1.0)
    cx = (torch.rand(n, generator=g, device=dev) * 2 - 1) * (1 - w)
    cy = (torch.rand(n, generator=g, device=dev) * 2 - 1) * (1 - h)
    if flip:
        w = torch.where(torch.rand(n, generator=g, device=dev) < 0.5, -w, w)
    theta = torch.zeros(n, 2, 3, device=dev, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w, cx, h, cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def grey(x: torch.Tensor) -> torch.Tensor:
    """Luma of RGB images ``[N, 3, H, W]`` as ``[N, 1, H, W]`` (ITU-R 601, as torchvision)."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype)
    return (x * weights.view(1, 3, 1, 1)).sum(1, keepdim=True)


def colour_jitter(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Brightness, contrast and saturation of RGB images in [0, 1], each by a factor drawn per
    image, for a share ``JITTER_P`` of them; then a share ``GREY_P`` turned grey."""
    n, dev = len(x), x.device
    on = (torch.rand(n, generator=g, device=dev) < JITTER_P).view(n, 1, 1, 1)
    b, c, s = (uniform(n, 1 - JITTER, 1 + JITTER, g, dev).view(n, 1, 1, 1) for _ in range(3))
    out = (x * b).clamp(0, 1)
    mean = grey(out).mean(dim=(2, 3), keepdim=True)
    out = ((out - mean) * c + mean).clamp(0, 1)
    out = ((out - grey(out)) * s + grey(out)).clamp(0, 1)
    x = torch.where(on, out, x)
    to_grey = (torch.rand(n, generator=g, device=dev) < GREY_P).view(n, 1, 1, 1)
    return torch.where(to_grey, grey(x).expand_as(x), x)


def image_view(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """One random view of [0, 1] images: a resized crop; for RGB images also a mirror and
    colour jitter (a grey image has no colour, and a mirrored digit is another symbol)."""
    rgb = x.shape[1] == 3
    x = resized_crop(x, g, flip=rgb)
    return colour_jitter(x, g) if rgb else x


def vector_view(x: torch.Tensor, pool: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """One random view of vectors (SCARF): each feature, with probability ``CORRUPTION``,
    replaced by the same feature of a random pool input (a draw from its marginal)."""
    n, d = x.shape
    replace = torch.rand(n, d, generator=g, device=x.device) < CORRUPTION
    donors = torch.randint(0, len(pool), (n, d), generator=g, device=x.device)
    return torch.where(replace, pool[donors, torch.arange(d, device=x.device)], x)
