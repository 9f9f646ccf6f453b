"""A classifier head on the run's representation (``model=head``): the "self-supervised
pretrained" regime of Lüth et al. 2023, in which only a linear layer or a small MLP is trained
on frozen features. Its inputs are the representation's features, not the data set's inputs:
set-up gives the learner those in their place, so every strategy and posterior works on it
unchanged (``space=embedding`` is then the head's penultimate layer: the features themselves
for a linear head)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import nn

from al_cli.models import Model, dense_layers


class Head(Model):
    """``hidden`` empty: a linear classifier on the features; else (Linear, ReLU, Dropout) per
    size in ``hidden``, then the linear classifier (an MLP on the features)."""

    inputs = "representation"
    """Read by set-up: this model trains on the run's representation, not the inputs."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        hidden: Sequence[int] = (),
        dropout: float = 0.0,
    ):
        super().__init__()
        width = math.prod(input_shape)
        layers: list[nn.Module] = []
        if list(hidden):
            layers, width = dense_layers(width, hidden, dropout)
        self.features = nn.Sequential(nn.Flatten(), *layers)
        self.classifier = nn.Linear(width, num_classes)
        self.embedding_dim = width
