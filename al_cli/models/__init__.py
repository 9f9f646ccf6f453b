"""Plain torch networks. Each is built as ``Model(input_shape, num_classes, **keys)`` with the
model option's keys, and exposes ``embed(x)`` (penultimate features) and ``classifier`` (its
last linear layer), which the embedding and gradient strategies use."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from al_cli.errors import UserError, check_choice


class Model(nn.Module):
    """A network in two parts: ``features`` (inputs to penultimate features) and
    ``classifier`` (an ``nn.Linear`` from those features to class logits).

    Subclass it and set both in ``__init__(self, input_shape, num_classes, **keys)``: every
    strategy and posterior can then use the network. A model that is a plain ``nn.Module``
    works too, with the strategies that need neither ``embed`` nor ``classifier``.
    """

    features: nn.Module
    classifier: nn.Linear

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``[b, D]``."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


def model_provides(net: nn.Module) -> frozenset[str]:
    """What a built network offers to strategies: ``embed`` (a method giving penultimate
    features), ``last_layer`` (``classifier``, an ``nn.Linear``), ``dropout`` (an
    ``nn.Dropout`` with p > 0, which MC Dropout needs)."""
    out = set()
    if callable(getattr(net, "embed", None)):
        out.add("embed")
    if isinstance(getattr(net, "classifier", None), nn.Linear):
        out.add("last_layer")
    if any(type(m) is nn.Dropout and m.p > 0 for m in net.modules()):
        out.add("dropout")
    return frozenset(out)


def image_shape(model: str, input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``(channels, height, width)``, or a clear error for flat inputs."""
    if len(input_shape) != 3:
        raise UserError(
            f"model={model} needs image inputs (channels, height, width), got shape "
            f"{tuple(input_shape)}; use model=mlp for flat features"
        )
    return tuple(input_shape)


def check_dropout(dropout: float, key: str = "model.dropout") -> None:
    if not 0.0 <= dropout < 1.0:
        raise UserError(f"{key}={dropout} must lie in [0, 1)")


INITS = ("torch", "glorot")
"""``model.init``: ``torch`` keeps torch's default initialisation; ``glorot`` is Keras's
default, which Gal et al. 2017's released code ran with: Glorot-uniform weights for every
Linear and Conv layer and zero biases."""


def init_weights(net: nn.Module, scheme: str) -> None:
    """Re-initialise ``net``'s Linear and Conv layers by ``scheme`` (see ``INITS``), drawing
    from torch's global generator, which the network's build seeds."""
    check_choice("model.init", scheme, INITS)
    if scheme == "torch":
        return
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def dense_layers(width: int, hidden: Sequence[int], dropout: float) -> tuple[list[nn.Module], int]:
    """(Linear, ReLU, Dropout) per size in ``hidden`` (no Dropout when ``dropout`` is 0), and
    the width of the last one."""
    hidden = list(hidden)
    if not hidden or any(h <= 0 for h in hidden):
        raise UserError(f"model.hidden={hidden} must list one or more positive layer sizes")
    check_dropout(dropout)
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    return layers, width
