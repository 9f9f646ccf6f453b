"""torchvision's ResNet-18 (He et al. 2016) as a feature extractor plus a fresh last layer.

``model.stem=cifar`` (default) swaps the 7x7 stride-2 first convolution and the max-pool for
one 3x3 stride-1 convolution, the usual change for 32x32 inputs; ``stem=imagenet`` keeps
torchvision's stem. ``model.pretrained=true`` starts from torchvision's ImageNet weights
(downloaded once into torch's cache); the first convolution is new whenever the stem or the
number of input channels differs from ImageNet's.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18

from al_cli.config import ConfigError
from al_cli.models import image_shape


def imagenet_weights() -> dict[str, torch.Tensor]:
    weights = ResNet18_Weights.IMAGENET1K_V1
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as err:
        raise ConfigError(
            f"model.pretrained=true needs torchvision's ImageNet weights ({weights.url}), "
            f"which could not be loaded ({type(err).__name__}: {err}); put the file in "
            f"{torch.hub.get_dir()}/checkpoints or set model.pretrained=false"
        ) from err


class ResNet18(nn.Module):
    """``features``: stem, four residual stages, global average pooling (and a Dropout when
    ``model.dropout`` > 0): 512 features; ``classifier``: Linear(512, classes)."""

    def __init__(self, cfg: DictConfig, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        channels = image_shape("resnet18", input_shape)[0]
        if cfg.stem not in ("cifar", "imagenet"):
            raise ConfigError(f"model.stem={cfg.stem!r} is not known; choose cifar or imagenet")
        if not 0.0 <= cfg.dropout < 1.0:
            raise ConfigError(f"model.dropout={cfg.dropout} must lie in [0, 1)")
        net = resnet18(weights=None)
        if cfg.pretrained:
            net.load_state_dict(imagenet_weights())
        if cfg.stem == "cifar":
            net.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif channels != 3:
            net.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        layers = [net.conv1, net.bn1, net.relu, net.maxpool]
        layers += [net.layer1, net.layer2, net.layer3, net.layer4, net.avgpool, nn.Flatten()]
        if cfg.dropout > 0:
            layers.append(nn.Dropout(cfg.dropout))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(net.fc.in_features, num_classes)
        self.embedding_dim = net.fc.in_features

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
