"""The convolutional network of Gal, Islam & Ghahramani 2017 (Deep Bayesian Active Learning
with Image Data): conv32-relu-conv32-relu-maxpool-dropout-dense128-relu-dropout-dense."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from al_cli.errors import UserError
from al_cli.models import Model, check_dropout, image_shape, init_weights


class GalCNN(Model):
    """``features`` ends at the 128-unit penultimate layer (after its dropout); ``classifier``
    is the last Linear. The two convolutions before the first Dropout are deterministic, so
    MC Dropout computes them once per input."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        filters: int = 32,
        kernel_size: int = 4,
        hidden: Sequence[int] = (128,),
        conv_dropout: float = 0.25,
        dropout: float = 0.5,
        init: str = "torch",
    ):
        super().__init__()
        channels, height, width = image_shape("cnn", input_shape)
        k = kernel_size
        conv_h, conv_w = (height - 2 * (k - 1)) // 2, (width - 2 * (k - 1)) // 2
        if conv_h < 1 or conv_w < 1:
            raise UserError(
                f"model.kernel_size={k} is too large for {height}x{width} inputs; lower it"
            )
        check_dropout(conv_dropout, "model.conv_dropout")
        check_dropout(dropout)
        self.features = nn.Sequential(
            nn.Conv2d(channels, filters, k),
            nn.ReLU(),
            nn.Conv2d(filters, filters, k),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(conv_dropout),
            nn.Flatten(),
            nn.Linear(filters * conv_h * conv_w, hidden[0]),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.classifier = nn.Linear(hidden[0], num_classes)
        self.embedding_dim = hidden[0]
        init_weights(self, init)
