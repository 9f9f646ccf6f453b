"""SimCLR (Chen et al. 2020): a small encoder trained on the pool's inputs alone to tell two
random views of an input from the views of every other input in the batch (the NT-Xent loss),
its output then the features of every pool and test input. No label and no test input takes
part in training; the test inputs are only encoded, once it is done, with the pool's
statistics. Seeded by ``representation.seed`` (not the run's), so every run of a sweep shares
one cached encoder; deterministic on the CPU.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from al_cli.data import DataSplit
from al_cli.errors import UserError
from al_cli.representations.base import Features, Representation
from al_cli.representations.views import (
    Standardise,
    as_encoder_inputs,
    check_image_shape,
    image_view,
    pixel_range,
    vector_view,
)
from al_cli.seeding import check_seed, derive_seed, seeded, torch_generator

PROJECTION = 128
"""The width of the projection head's output, which only the loss sees (SimCLR's 128)."""
WIDTHS = (32, 64, 128)
"""The image encoder's convolutions: a small CNN, as TypiClust's CIFAR ResNet would not train
in minutes on a CPU."""
HIDDEN = 256
"""Flat inputs: the width of the MLP encoder's two hidden layers."""
WEIGHT_DECAY = 1e-6
ENCODE_BATCH = 1024


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """The NT-Xent loss of the views ``z1[i]``, ``z2[i]`` ``[n, d]`` of n inputs: for each of
    the 2n views, the cross-entropy of finding its partner among the 2n - 1 others by cosine
    similarity / ``temperature``, averaged over all 2n (SimCLR's Algorithm 1)."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    similarity = (z @ z.T) / temperature
    similarity.fill_diagonal_(float("-inf"))  # a view is not its own partner
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(similarity, partner)


def conv_block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def encoder(shape: tuple[int, ...], dim: int) -> nn.Module:
    """Images ``[C, H, W]``: three 3x3 convolutions (32, 64, 128 channels, the last two with
    stride 2; a fourth for images of 24 pixels or more), global average pooling and a linear
    map to ``dim``. Vectors ``[D]``: an MLP with two hidden layers of ``HIDDEN``."""
    if len(shape) == 3:
        a, b, c = WIDTHS
        layers = [*conv_block(shape[0], a, 1), *conv_block(a, b, 2), *conv_block(b, c, 2)]
        if min(shape[1:]) >= 24:
            layers += conv_block(c, c, 2)
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, dim))
    return nn.Sequential(
        nn.Linear(shape[0], HIDDEN),
        nn.BatchNorm1d(HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.BatchNorm1d(HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, dim),
    )


def projection_head(dim: int) -> nn.Module:
    """SimCLR's g: the loss sees g(h), the features are h, which keeps what g learns to drop."""
    return nn.Sequential(nn.Linear(dim, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, PROJECTION))


def positive_int(key: str, value: int, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UserError(f"representation.{key}={value!r} must be an integer of at least {least}")
    return value


def positive_float(key: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise UserError(f"representation.{key}={value!r} must be a positive number")
    return float(value)


def encode(net: nn.Module, x: torch.Tensor, standardise: Standardise | None) -> torch.Tensor:
    """The trained encoder's features of ``x``, batch by batch, on the CPU."""
    prepare = standardise or (lambda batch: batch)
    with torch.no_grad():
        batches = range(0, len(x), ENCODE_BATCH)
        return torch.cat([net(prepare(x[i : i + ENCODE_BATCH])).cpu() for i in batches])


class SimCLR(Representation):
    """A SimCLR encoder trained on the pool; its ``dim`` outputs are the features."""

    def __init__(
        self,
        epochs: int = 50,
        dim: int = 64,
        temperature: float = 0.5,
        batch_size: int = 256,
        lr: float = 1e-3,
        seed: int = 0,
        image_shape: Sequence[int] | None = None,
    ):
        self.epochs = positive_int("epochs", epochs)
        self.dim = positive_int("dim", dim)
        self.temperature = positive_float("temperature", temperature)
        self.batch_size = positive_int("batch_size", batch_size, least=2)
        self.lr = positive_float("lr", lr)
        check_seed("representation.seed", seed)
        self.seed = seed
        self.image_shape = check_image_shape(image_shape)

    def check(self, split: DataSplit) -> None:
        as_encoder_inputs(split.pool_x[:1], self.image_shape)
        if len(split.pool_x) < 2:
            raise UserError("representation=simclr needs a pool of at least 2 inputs")

    def compute(self, split: DataSplit) -> Features:
        pool = as_encoder_inputs(split.pool_x, self.image_shape).float()
        test = as_encoder_inputs(split.test_x, self.image_shape).float().to(pool.device)
        if pool.dim() == 4:  # to [0, 1] by the pool's range, where the views are drawn
            lo, span = pixel_range(pool)
            pool, test = (pool - lo) / span, (test - lo) / span
            standardise = Standardise.of(pool)
        else:
            standardise = None
        with seeded(derive_seed(self.seed, "simclr", "init"), pool.device):
            net = encoder(tuple(pool.shape[1:]), self.dim).to(pool.device)
            head = projection_head(self.dim).to(pool.device)
        self.fit(net, head, pool, standardise)
        net.eval()
        return Features(encode(net, pool, standardise), encode(net, test, standardise))

    def fit(
        self, net: nn.Module, head: nn.Module, pool: torch.Tensor, standardise: Standardise | None
    ) -> None:
        """``epochs`` passes over the pool in shuffled batches (the last one dropped when it
        is smaller than a batch, unless it is the only one): Adam on the NT-Xent loss."""
        params = [*net.parameters(), *head.parameters()]
        optimiser = torch.optim.Adam(params, lr=self.lr, weight_decay=WEIGHT_DECAY)
        g = torch_generator(self.seed, "simclr", "views", device=pool.device)
        n = len(pool)
        size = min(self.batch_size, n)
        net.train()
        head.train()
        for epoch in range(self.epochs):
            order = torch.randperm(n, generator=g, device=pool.device)
            total = 0.0
            for start in range(0, n - size + 1, size):
                x = pool[order[start : start + size]]
                if standardise is None:
                    v1, v2 = vector_view(x, pool, g), vector_view(x, pool, g)
                else:
                    v1, v2 = standardise(image_view(x, g)), standardise(image_view(x, g))
                loss = nt_xent(head(net(v1)), head(net(v2)), self.temperature)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total += float(loss.detach())
            if (epoch + 1) % max(1, self.epochs // 5) == 0 or epoch + 1 == self.epochs:
                logging.getLogger("al").info(
                    f"representation=simclr: epoch {epoch + 1}/{self.epochs}, "
                    f"loss {total / (n // size):.4f}"
                )
