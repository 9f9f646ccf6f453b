"""The convolutional network of Gal, Islam & Ghahramani 2017 (Deep Bayesian Active Learning
with Image Data): conv32-relu-conv32-relu-maxpool-dropout-dense128-relu-dropout-dense."""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch import nn

from al_cli.config import ConfigError
from al_cli.models import image_shape


class GalCNN(nn.Module):
    """``features`` ends at the 128-unit penultimate layer (after its dropout); ``classifier``
    is the last Linear. The two convolutions before the first Dropout are deterministic, so
    MC Dropout computes them once per input."""

    def __init__(self, cfg: DictConfig, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        channels, height, width = image_shape("cnn", input_shape)
        k = cfg.kernel_size
        conv_h, conv_w = (height - 2 * (k - 1)) // 2, (width - 2 * (k - 1)) // 2
        if conv_h < 1 or conv_w < 1:
            raise ConfigError(
                f"model.kernel_size={k} is too large for {height}x{width} inputs; lower it"
            )
        p_conv, p_dense = cfg.conv_dropout, cfg.dropout
        self.features = nn.Sequential(
            nn.Conv2d(channels, cfg.filters, k),
            nn.ReLU(),
            nn.Conv2d(cfg.filters, cfg.filters, k),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(p_conv),
            nn.Flatten(),
            nn.Linear(cfg.filters * conv_h * conv_w, cfg.hidden[0]),
            nn.ReLU(),
            nn.Dropout(p_dense),
        )
        self.classifier = nn.Linear(cfg.hidden[0], num_classes)
        self.embedding_dim = cfg.hidden[0]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
