"""torchvision's ResNet-18 (He et al. 2016) as a feature extractor plus a fresh last layer.

``model.stem=cifar`` (default) swaps the 7x7 stride-2 first convolution and the max-pool for
one 3x3 stride-1 convolution, the usual change for 32x32 inputs; ``stem=imagenet`` keeps
torchvision's stem. ``model.pretrained=true`` starts from torchvision's ImageNet weights
(downloaded once into torch's cache); the first convolution is new whenever the stem or the
number of input channels differs from ImageNet's.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18

from al_cli.errors import UserError, check_choice
from al_cli.models import Model, check_dropout, image_shape


def imagenet_weights() -> dict[str, torch.Tensor]:
    weights = ResNet18_Weights.IMAGENET1K_V1
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as err:
        raise UserError(
            f"model.pretrained=true needs torchvision's ImageNet weights ({weights.url}), "
            f"which could not be loaded ({type(err).__name__}: {err}); put the file in "
            f"{torch.hub.get_dir()}/checkpoints or set model.pretrained=false"
        ) from err


class ResNet18(Model):
    """``features``: stem, four residual stages, global average pooling (and a Dropout when
    ``model.dropout`` > 0): 512 features; ``classifier``: Linear(512, classes)."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        stem: str = "cifar",
        pretrained: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__()
        channels = image_shape("resnet18", input_shape)[0]
        check_choice("model.stem", stem, ("cifar", "imagenet"))
        check_dropout(dropout)
        net = resnet18(weights=None)
        if pretrained:
            net.load_state_dict(imagenet_weights())
        if stem == "cifar":
            net.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif channels != 3:
            net.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        layers = [net.conv1, net.bn1, net.relu, net.maxpool]
        layers += [net.layer1, net.layer2, net.layer3, net.layer4, net.avgpool, nn.Flatten()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(net.fc.in_features, num_classes)
        self.embedding_dim = net.fc.in_features
