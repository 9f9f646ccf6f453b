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


def image_shape(model: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``(channels, height, width)``, or a clear error for flat inputs."""
    if len(input_shape) != 3:
        raise ConfigError(
            f"model={model} needs image inputs (channels, height, width), got shape "
            f"{tuple(input_shape)}; use model=mlp for flat features"
        )
    return tuple(input_shape)


def dense_layers(width: int, cfg: DictConfig) -> tuple[list[nn.Module], int]:
    """(Linear, ReLU, Dropout) per size in ``model.hidden`` (no Dropout when ``model.dropout``
    is 0), and the width of the last one."""
    hidden = list(cfg.hidden)
    if not hidden or any(h <= 0 for h in hidden):
        raise ConfigError(f"model.hidden={hidden} must list one or more positive layer sizes")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"model.dropout={cfg.dropout} must lie in [0, 1)")
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if cfg.dropout > 0:
            layers.append(nn.Dropout(cfg.dropout))
        width = h
    return layers, width
