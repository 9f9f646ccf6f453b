"""Plain torch networks. Each exposes ``embed(x)`` (penultimate features) and ``classifier``
(its last linear layer), and is built as ``Model(cfg, input_shape, num_classes)``."""

from __future__ import annotations

from hydra.utils import get_class
from omegaconf import DictConfig
from torch import nn

from al_cli.config import ConfigError


def model_class(cfg: DictConfig) -> type[nn.Module]:
    try:
        return get_class(cfg._target_)
    except Exception as err:
        raise ConfigError(
            f"model._target_={cfg._target_!r} cannot be imported; check the model config"
        ) from err
