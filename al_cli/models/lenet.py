"""LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling: conv6(5x5, padding 2)-pool-
conv16(5x5)-pool-dense120-dense84-dense, for small images such as MNIST (28x28) or CIFAR (32x32).
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch import nn

from al_cli.config import ConfigError
from al_cli.models import dense_layers, image_shape


class LeNet(nn.Module):
    """``features`` ends at the last hidden dense layer (after its dropout, when
    ``model.dropout`` > 0); ``classifier`` is the last Linear."""

    def __init__(self, cfg: DictConfig, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        channels, height, width = image_shape("lenet", input_shape)
        c1, c2 = list(cfg.channels)
        out_h, out_w = (height // 2 - 4) // 2, (width // 2 - 4) // 2
        if out_h < 1 or out_w < 1:
            raise ConfigError(
                f"model=lenet needs images of at least 12x12 pixels, got {height}x{width}"
            )
        conv: list[nn.Module] = [
            nn.Conv2d(channels, c1, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        ]
        dense, width_in = dense_layers(c2 * out_h * out_w, cfg)
        layers = conv + dense
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width_in, num_classes)
        self.embedding_dim = width_in

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
