"""LeNet-5 (LeCun et al. 1998) with ReLU and max-pooling: conv6(5x5, padding 2)-pool-
conv16(5x5)-pool-dense120-dense84-dense, for small images such as MNIST (28x28) or CIFAR (32x32).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from al_cli.errors import UserError
from al_cli.models import Model, dense_layers, image_shape


class LeNet(Model):
    """``features`` ends at the last hidden dense layer (after its dropout, when
    ``dropout`` > 0); ``classifier`` is the last Linear."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        channels: Sequence[int] = (6, 16),
        hidden: Sequence[int] = (120, 84),
        dropout: float = 0.25,
    ):
        super().__init__()
        in_channels, height, width = image_shape("lenet", input_shape)
        if len(channels) != 2 or any(c <= 0 for c in channels):
            raise UserError(f"model.channels={list(channels)} must be two positive sizes")
        c1, c2 = channels
        out_h, out_w = (height // 2 - 4) // 2, (width // 2 - 4) // 2
        if out_h < 1 or out_w < 1:
            raise UserError(
                f"model=lenet needs images of at least 12x12 pixels, got {height}x{width}"
            )
        conv: list[nn.Module] = [
            nn.Conv2d(in_channels, c1, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        ]
        dense, width_in = dense_layers(c2 * out_h * out_w, hidden, dropout)
        layers = conv + dense
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width_in, num_classes)
        self.embedding_dim = width_in
