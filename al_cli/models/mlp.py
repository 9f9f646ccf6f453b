"""A multilayer perceptron for flat (or flattened) inputs."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from al_cli.models import Model, dense_layers


class MLP(Model):
    """``features``: Flatten, then (Linear, ReLU, Dropout) per hidden size; ``classifier``: Linear.

    Everything before the first Dropout is deterministic, which MC Dropout exploits.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        hidden: Sequence[int] = (128,),
        dropout: float = 0.25,
    ):
        super().__init__()
        layers, width = dense_layers(math.prod(input_shape), hidden, dropout)
        self.features = nn.Sequential(nn.Flatten(), *layers)
        self.classifier = nn.Linear(width, num_classes)
        self.embedding_dim = width
