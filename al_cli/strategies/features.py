"""What the embedding-based strategies share: the last layer as one weight matrix over
penultimate embeddings (with a constant 1 appended when the layer has a bias)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from omegaconf import DictConfig
from torch import nn

from al_cli.config import ConfigError


def check_acquisition(cfg: DictConfig, name: str) -> None:
    """Strategies that are one algorithm take no ``strategy.acquisition`` of their own."""
    if cfg.acquisition != name:
        raise ConfigError(
            f"strategy.acquisition={cfg.acquisition} has no effect with strategy={cfg.name}; "
            f"leave it at {name}, or pick a scoring strategy (e.g. strategy=entropy)"
        )


def layer_weights(layer: nn.Linear) -> torch.Tensor:
    """``[C, D]`` weights, or ``[C, D + 1]`` with the bias as the last column."""
    w = layer.weight.detach()
    return w if layer.bias is None else torch.cat([w, layer.bias.detach()[:, None]], dim=1)


def augment(h: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """Embeddings ``[N, D]`` as the last layer's inputs: ``[N, D + 1]`` when it has a bias."""
    return h if layer.bias is None else torch.cat([h, torch.ones_like(h[:, :1])], dim=1)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the body on one CPU thread: for many tiny ops, thread fork-join costs more than it
    saves, and far more when other processes share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
