"""A pretrained torchvision backbone (``representation=torchvision``): its features before the
last linear layer, for inputs resized and normalised as its weights' transforms say.

The weights are read from torch's hub cache only (``torch.hub.get_dir()/checkpoints``, where
torchvision itself keeps them): a run never downloads, so a cluster node without a network
behaves as a laptop does, and absent weights are refused at set-up in one line that says where
to get the file and where to put it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from torch import nn

from al_cli.data import DataSplit
from al_cli.errors import UserError
from al_cli.representations.base import Features, Representation
from al_cli.representations.simclr import positive_int
from al_cli.representations.views import as_encoder_inputs, check_image_shape, pixel_range


def weights_enum(arch: str, weights: str) -> enum.Enum:
    """torchvision's weights ``weights`` of ``arch`` (``IMAGENET1K_V1``, or the full name
    ``ResNet18_Weights.IMAGENET1K_V1``), refused in one line when either is unknown."""
    try:
        table = torchvision.models.get_model_weights(arch)
    except (ValueError, KeyError):
        raise UserError(
            f"representation.arch={arch!r} is not a torchvision model; use one of "
            f"torchvision.models.list_models(), e.g. resnet18, resnet50, efficientnet_b0"
        ) from None
    prefix, _, member = weights.rpartition(".")
    if prefix not in ("", table.__name__) or member not in table.__members__:
        raise UserError(
            f"representation.weights={weights!r} are not weights of {arch}; use one of "
            f"{', '.join(table.__members__)}"
        )
    return table[member]


def checkpoint_path(weights: enum.Enum) -> Path:
    """Where torchvision keeps (and looks for) the file of ``weights``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def without_last_linear(net: nn.Module, arch: str) -> nn.Module:
    """``net`` with its last ``nn.Linear`` (the class scores) replaced by the identity: its
    output is then the penultimate features (pooled, for the convolutional networks)."""
    last = [name for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not last:
        raise UserError(
            f"representation.arch={arch} has no linear classifier to remove; use an "
            f"architecture that ends in one (resnet18, efficientnet_b0, vit_b_16, ...)"
        )
    parent_name, _, child = last[-1].rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    setattr(parent, child, nn.Identity())
    return net


class TorchvisionBackbone(Representation):
    """``arch`` with ``weights`` from torch's cache, as a frozen feature extractor."""

    def __init__(
        self,
        arch: str = "resnet18",
        weights: str = "IMAGENET1K_V1",
        batch_size: int = 64,
        image_shape: Sequence[int] | None = None,
    ):
        self.arch = arch
        self.weights = weights_enum(arch, str(weights))
        self.batch_size = positive_int("batch_size", batch_size)
        self.image_shape = check_image_shape(image_shape)
        self.path = checkpoint_path(self.weights)
        if not self.path.is_file():
            raise UserError(
                f"representation=torchvision needs the weights {self.weights} in torch's "
                f"cache, and al never downloads at run time: download {self.weights.url} to "
                f"{self.path} (curl -L --create-dirs -o {self.path} {self.weights.url}), or "
                f"point TORCH_HOME at a cache that holds it"
            )

    def check(self, split: DataSplit) -> None:
        x = as_encoder_inputs(split.pool_x[:1], self.image_shape)
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise UserError(
                f"representation=torchvision needs grey or RGB images, and the inputs have "
                f"shape {tuple(split.pool_x.shape[1:])}; set representation.image_shape (e.g. "
                f"[1, 8, 8] for digits)"
            )

    def network(self) -> nn.Module:
        """The backbone with the weights from the cache, in eval mode, without its last layer."""
        categories = self.weights.meta.get("categories") or range(1000)
        net = torchvision.models.get_model(self.arch, weights=None, num_classes=len(categories))
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        except (OSError, RuntimeError, ValueError, KeyError, EOFError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(
                f"{self.path} is not a checkpoint of {self.arch} with {self.weights} ({first}); "
                f"delete it and download {self.weights.url} again"
            ) from None
        return without_last_linear(net, self.arch).eval()

    def compute(self, split: DataSplit) -> Features:
        pool = as_encoder_inputs(split.pool_x, self.image_shape).float()
        test = as_encoder_inputs(split.test_x, self.image_shape).float().to(pool.device)
        lo, span = pixel_range(pool)  # [0, 1], as the weights' transforms expect
        net = self.network().to(pool.device)
        transform = self.weights.transforms(antialias=True)
        out = []
        with torch.no_grad():
            for x in (pool, test):
                batches = []
                for i in range(0, len(x), self.batch_size):
                    batch = (x[i : i + self.batch_size] - lo) / span
                    if batch.shape[1] == 1:
                        batch = batch.expand(-1, 3, -1, -1)
                    batches.append(net(transform(batch)).flatten(1).cpu())
                out.append(torch.cat(batches))
        return Features(*out)
