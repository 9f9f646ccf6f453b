"""What every posterior shares: how networks are built and trained, and the interface.

A posterior turns one trained network, or several, into S predictive distributions per input.
The loop and the strategies only call the methods of ``Posterior``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from omegaconf import DictConfig
from torch import nn

from al_cli.models import model_class
from al_cli.seeding import seeded
from al_cli.trainer import Augment, ExtraLoss, train_network


@dataclass
class NetworkFactory:
    """Builds fresh networks of the configured model and trains them with the configured trainer."""

    model_cfg: DictConfig
    trainer_cfg: DictConfig
    input_shape: tuple[int, ...]
    num_classes: int
    device: torch.device
    augment: Augment | None = None
    """The data set's training-time augmentation, applied by every ``train`` call."""

    def build(self, seed: int) -> nn.Module:
        with seeded(seed, "cpu"):
            net = model_class(self.model_cfg)(self.model_cfg, self.input_shape, self.num_classes)
        return net.to(self.device)

    def train(
        self,
        net: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        seed: int,
        extra_loss: ExtraLoss | None = None,
    ) -> float:
        return train_network(net, x, y, self.trainer_cfg, seed, extra_loss, self.augment)

    @property
    def warm_start(self) -> bool:
        return bool(self.trainer_cfg.warm_start)


class Posterior(Protocol):
    name: str
    provides: frozenset[str]
    """Any of "samples", "embed", "last_layer"."""

    @property
    def n_samples(self) -> int: ...

    def fit(self, x: torch.Tensor, y: torch.Tensor, seed: int) -> None:
        """Train on the labeled set; ``seed`` already includes the round."""

    def sample_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``[S, b, C]`` for one batch ``x`` on the device."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``[b, D]`` of the (first) trained network."""

    def last_layer(self) -> nn.Linear:
        """The (first) trained network's final linear layer."""
