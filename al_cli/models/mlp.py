"""A multilayer perceptron for flat (or flattened) inputs."""

from __future__ import annotations

import math

import torch
from omegaconf import DictConfig
from torch import nn

from al_cli.models import dense_layers


class MLP(nn.Module):
    """``features``: Flatten, then (Linear, ReLU, Dropout) per hidden size; ``classifier``: Linear.

    Everything before the first Dropout is deterministic, which MC Dropout exploits.
    """

    def __init__(self, cfg: DictConfig, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        layers, width = dense_layers(math.prod(input_shape), cfg)
        layers = [nn.Flatten(), *layers]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, num_classes)
        self.embedding_dim = width

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
