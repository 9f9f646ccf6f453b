"""A multilayer perceptron for flat (or flattened) inputs."""

from __future__ import annotations

import math

import torch
from omegaconf import DictConfig
from torch import nn

from al_cli.config import ConfigError


class MLP(nn.Module):
    """``features``: Flatten, then (Linear, ReLU, Dropout) per hidden size; ``classifier``: Linear.

    Everything before the first Dropout is deterministic, which MC Dropout exploits.
    """

    def __init__(self, cfg: DictConfig, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        hidden = list(cfg.hidden)
        if not hidden or any(h <= 0 for h in hidden):
            raise ConfigError(f"model.hidden={hidden} must list one or more positive layer sizes")
        if not 0.0 <= cfg.dropout < 1.0:
            raise ConfigError(f"model.dropout={cfg.dropout} must lie in [0, 1)")
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if cfg.dropout > 0:
                layers.append(nn.Dropout(cfg.dropout))
            width = h
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)
        self.embedding_dim = width

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
