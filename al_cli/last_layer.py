"""The last layer as one weight matrix over penultimate features, and its loss Hessian.

A network's final ``nn.Linear`` maps features h [N, D] to logits; with its bias as an extra
column of the weights and a constant 1 appended to h, the logits are ``inputs @ weights.T``.
Laplace (a Gaussian over these weights) and expected error reduction (a refit of them) both
need the Gauss-Newton Hessian of the cross-entropy over the labeled set, made here once.
"""

from __future__ import annotations

import torch
from torch import nn

CHUNK = 1024
"""Rows per step of the Hessian sum: memory O(CHUNK C^2 + (C D)^2)."""


def layer_weights(layer: nn.Linear) -> torch.Tensor:
    """``[C, D]`` weights, or ``[C, D + 1]`` with the bias as the last column."""
    w = layer.weight.detach()
    return w if layer.bias is None else torch.cat([w, layer.bias.detach()[:, None]], dim=1)


def layer_inputs(h: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """Features ``[N, D]`` as the layer's inputs: ``[N, D + 1]`` with a 1 when it has a bias."""
    return h if layer.bias is None else torch.cat([h, torch.ones_like(h[:, :1])], dim=1)


def softmax_hessian(probs: torch.Tensor) -> torch.Tensor:
    """diag(p) - p p' per row ``[N, C, C]``: the Hessian of cross-entropy in the logits."""
    return torch.diag_embed(probs) - probs[:, :, None] * probs[:, None, :]


def ggn_hessian(phi: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """sum_i (diag(p_i) - p_i p_i') (x) phi_i phi_i' in float64: ``[C*D, C*D]``, the weights
    flattened class-major (row c of W is entries c*D .. c*D + D - 1). For softmax outputs the
    Gauss-Newton matrix equals the Hessian of the summed cross-entropy."""
    c, d = probs.shape[1], phi.shape[1]
    hess = torch.zeros(c, d, c, d, dtype=torch.float64, device=phi.device)
    for i in range(0, len(phi), CHUNK):
        lam = softmax_hessian(probs[i : i + CHUNK].double())
        p = phi[i : i + CHUNK].double()
        hess += torch.einsum("nab,nd,ne->adbe", lam, p, p)
    return hess.reshape(c * d, c * d)
