"""A variational Bayesian neural network: Bayes by Backprop (Blundell et al. 2015).

Every Linear and Conv layer of the chosen model becomes a mean-field Gaussian over its weights
and bias, N(mu, softplus(rho)^2), with a N(0, prior_sigma^2) prior. Training minimises the
cross-entropy plus KL(q || prior) / n_labeled (the per-datum negative ELBO), sampling
pre-activations with the local reparameterisation trick (Kingma et al. 2015). At inference
S weight samples are drawn once per round and each is shared by every input, so sample s is
one network across the whole pool, as BatchBALD needs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from al_cli.errors import UserError
from al_cli.posteriors.base import NetworkFactory, SampledPosterior
from al_cli.seeding import derive_seed, torch_generator

INITIAL_SIGMA = 0.5
"""Posterior standard deviation at initialisation, relative to the spread of the layer's
initial weights (Adam moves rho by about lr per step, so the start matters)."""


class Variational(nn.Module):
    """A Linear or Conv layer with a factorised Gaussian posterior over its parameters."""

    def __init__(self, layer: nn.Module, op: Callable, prior_sigma: float):
        super().__init__()
        self.op = op
        rho = math.log(math.expm1(INITIAL_SIGMA * float(layer.weight.detach().std())))
        self.weight_mu = nn.Parameter(layer.weight.detach().clone())
        self.weight_rho = nn.Parameter(torch.full_like(layer.weight, rho))
        has_bias = layer.bias is not None
        self.bias_mu = nn.Parameter(layer.bias.detach().clone()) if has_bias else None
        self.bias_rho = nn.Parameter(torch.full_like(layer.bias, rho)) if has_bias else None
        self.prior_sigma = prior_sigma
        self.samples: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self.sample_index: int | None = None

    def sigmas(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        b = F.softplus(self.bias_rho) if self.bias_rho is not None else None
        return F.softplus(self.weight_rho), b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:  # local reparameterisation: sample pre-activations, not weights
            sw, sb = self.sigmas()
            mean = self.op(x, self.weight_mu, self.bias_mu)
            var = self.op(x * x, sw * sw, sb * sb if sb is not None else None)
            return mean + var.clamp_min(1e-16).sqrt() * torch.randn_like(mean)
        if self.sample_index is None:  # the posterior mean
            return self.op(x, self.weight_mu, self.bias_mu)
        w, b = self.samples
        return self.op(x, w[self.sample_index], b[self.sample_index] if b is not None else None)

    def kl(self) -> torch.Tensor:
        """KL(N(mu, sigma^2) || N(0, prior^2)), summed over every weight and bias."""
        sw, sb = self.sigmas()
        pairs = [(self.weight_mu, sw)] + ([(self.bias_mu, sb)] if sb is not None else [])
        p = self.prior_sigma
        return sum(
            (torch.log(p / s) + (s * s + mu * mu) / (2 * p * p) - 0.5).sum() for mu, s in pairs
        )

    @torch.no_grad()
    def draw(self, samples: int, gen: torch.Generator) -> None:
        """Draw ``samples`` weight sets from the posterior, kept until the next draw."""
        sw, sb = self.sigmas()

        def one(mu: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
            eps = torch.randn((samples, *mu.shape), generator=gen).to(mu.device)
            return mu + s * eps

        self.samples = (
            one(self.weight_mu, sw),
            one(self.bias_mu, sb) if sb is not None else None,
        )


def layer_op(layer: nn.Module) -> Callable | None:
    """The functional form of a Linear or Conv layer, or None for any other layer."""
    if isinstance(layer, nn.Linear):
        return F.linear
    conv = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}.get(type(layer))
    if conv is None:
        return None
    if layer.padding_mode != "zeros":
        raise UserError(
            f"posterior=bnn supports zero-padded convolutions only, not "
            f"padding_mode={layer.padding_mode!r}"
        )
    return functools.partial(
        conv,
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        groups=layer.groups,
    )


def make_variational(net: nn.Module, prior_sigma: float) -> list[Variational]:
    """Replace, in place, every Linear and Conv layer of ``net``; returns the new layers."""
    layers = []
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            op = layer_op(child)
            if op is not None:
                v = Variational(child, op, prior_sigma)
                setattr(parent, name, v)
                layers.append(v)
    return layers


class BayesByBackprop(SampledPosterior):
    def __init__(self, factory: NetworkFactory, samples: int = 20, prior_sigma: float = 1.0):
        super().__init__(factory, samples, "a BNN needs at least 2 samples")
        if not prior_sigma > 0:
            raise UserError(f"posterior.prior_sigma={prior_sigma} must be positive")
        self.prior_sigma = float(prior_sigma)
        if not make_variational(factory.build(0), self.prior_sigma):
            raise UserError(
                f"posterior=bnn found no Linear or Conv layer in "
                f"model={factory.model_name}; choose another posterior"
            )
        # the last layer is a distribution, not one nn.Linear: embeddings only (under the
        # posterior mean weights: no sample is set outside sample_probs)
        self.provides = frozenset({"samples", "multiple_samples", "consistent_samples"}) | (
            factory.provides & {"embed"}
        )

    def kl(self) -> torch.Tensor:
        return sum(layer.kl() for layer in self.layers)

    def fit(self, x: torch.Tensor, y: torch.Tensor, seed: int) -> None:
        if self.net is None or not self.factory.warm_start:
            self.net = self.factory.build(seed)
            self.layers = make_variational(self.net, self.prior_sigma)
            self.net.to(x.device)
        self.factory.train(self.net, x, y, seed, extra_loss=lambda net, n: self.kl() / n)
        self.net.eval()
        for i, layer in enumerate(self.layers):
            layer.draw(self.samples, torch_generator(derive_seed(seed, "bnn_weights"), i))

    @torch.no_grad()
    def sample_probs(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        try:
            for s in range(self.samples):
                for layer in self.layers:
                    layer.sample_index = s
                outs.append(torch.softmax(self.net(x), dim=-1))
        finally:
            for layer in self.layers:
                layer.sample_index = None
        return torch.stack(outs)
