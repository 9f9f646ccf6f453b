"""A last-layer Laplace approximation (MacKay 1992; Daxberger et al. 2021, "Laplace Redux").

The network is trained as usual; its last layer's weights and bias, W [C, D+1], then get a
Gaussian posterior centred on the trained values with precision H + delta*I, H the
Gauss-Newton (here equal to the Fisher) Hessian of the labeled set's negative log-likelihood:
H = sum_i (diag(p_i) - p_i p_i^T) (x) phi_i phi_i^T, phi_i the penultimate features with a 1
appended. ``full`` keeps H whole; ``kron`` approximates it by the Kronecker product
(mean_i Lambda_i) (x) (sum_i phi_i phi_i^T) (KFAC). Both are eigendecomposed, so sampling and
the marginal likelihood that fits delta (when ``prior_precision`` is null) are cheap.
S weight samples are drawn once per round and shared by every input.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from al_cli.errors import UserError, check_choice
from al_cli.last_layer import ggn_hessian, layer_inputs, layer_weights, softmax_hessian
from al_cli.posteriors.base import NetworkFactory, SampledPosterior, check_samples
from al_cli.posteriors.deterministic import Deterministic
from al_cli.seeding import derive_seed, torch_generator

FULL_MAX_PARAMS = 2500
"""``auto`` uses the full Hessian while C*(D+1) is at most this, else the Kronecker factors."""

PRIOR_GRID = np.logspace(-4, 4, 161)
"""Prior precisions searched by the marginal likelihood."""


def hessian_eigen(phi: torch.Tensor, probs: torch.Tensor, kind: str) -> dict[str, torch.Tensor]:
    """Eigendecomposition of the last layer's GGN Hessian (``phi``: the layer's inputs, with
    the 1 for the bias).

    full: ``values`` [C*D1] with ``vectors`` [C*D1, C*D1] over the row-major flattened W.
    kron: ``g``, ``qg`` (class factor) and ``a``, ``qa`` (feature factor); the eigenvalues are
    the products g_c * a_d.
    """
    if kind == "full":
        h = ggn_hessian(phi, probs)
        values, vectors = torch.linalg.eigh((h + h.T) / 2)
        return {"values": values.clamp_min(0), "vectors": vectors}
    g, qg = torch.linalg.eigh(softmax_hessian(probs).mean(0))
    a, qa = torch.linalg.eigh(phi.T @ phi)
    return {"g": g.clamp_min(0), "qg": qg, "a": a.clamp_min(0), "qa": qa}


def eigenvalues(eig: dict[str, torch.Tensor]) -> torch.Tensor:
    if "values" in eig:
        return eig["values"]
    return torch.outer(eig["g"], eig["a"]).flatten()


def fit_prior_precision(eig: dict[str, torch.Tensor], w_map: torch.Tensor) -> float:
    """The delta that maximises the Laplace marginal likelihood, over a log grid:
    log Z(delta) = K/2 log delta - delta/2 |w|^2 - 1/2 sum log(lambda_k + delta) + const."""
    lam = eigenvalues(eig).double().cpu().numpy()
    sq = float(w_map.double().pow(2).sum())
    k = lam.size
    logz = [0.5 * k * math.log(d) - 0.5 * d * sq - 0.5 * np.log(lam + d).sum() for d in PRIOR_GRID]
    return float(PRIOR_GRID[int(np.argmax(logz))])


def sample_weights(
    eig: dict[str, torch.Tensor],
    w_map: torch.Tensor,
    prior_precision: float,
    samples: int,
    gen: torch.Generator,
) -> torch.Tensor:
    """``samples`` draws [S, C, D1] from N(w_map, (H + delta I)^-1)."""
    c, d = w_map.shape
    eps = torch.randn(samples, c * d, generator=gen, dtype=torch.float64).to(w_map.device)
    if "values" in eig:
        scale = (eig["values"] + prior_precision).rsqrt()
        delta = (eps * scale) @ eig["vectors"].T
        return w_map + delta.reshape(samples, c, d)
    scale = (torch.outer(eig["g"], eig["a"]) + prior_precision).rsqrt()
    return w_map + eig["qg"] @ (eps.reshape(samples, c, d) * scale) @ eig["qa"].T


TOO_FEW = "Laplace needs at least 2 samples"
"""The refusal of fewer than 2 samples."""


class LastLayerLaplace(SampledPosterior, Deterministic):
    """The trained network of ``Deterministic`` (training, embeddings, last layer, checkpoint
    state), with a Gaussian over its last layer fitted after each training and S samples of it
    (``SampledPosterior``)."""

    def __init__(
        self,
        factory: NetworkFactory,
        samples: int = 20,
        hessian: str = "auto",
        prior_precision: float | None = None,
    ):
        check_samples(samples, TOO_FEW)  # said before the model is built and checked
        check_choice("posterior.hessian", hessian, ("auto", "full", "kron"))
        if prior_precision is not None and not prior_precision > 0:
            raise UserError(
                f"posterior.prior_precision={prior_precision} must be positive, or null to fit it"
            )
        factory.build(0)
        if not {"embed", "last_layer"} <= factory.provides:
            raise UserError(
                f"posterior=laplace needs a model with embed(x) and an nn.Linear named "
                f"classifier as its last layer; model={factory.model_name} lacks them (derive "
                f"it from al_cli.models.Model)"
            )
        super().__init__(factory, samples, TOO_FEW)
        self.provides |= {"multiple_samples"}
        self.hessian = hessian
        self.fixed_prior = None if prior_precision is None else float(prior_precision)

    def fit(self, x: torch.Tensor, y: torch.Tensor, seed: int) -> None:
        super().fit(x, y, seed)
        with torch.no_grad():
            head = self.net.classifier
            phi = layer_inputs(self.net.embed(x).double(), head)
            w_map = layer_weights(head).double()
            probs = torch.softmax(phi @ w_map.T, dim=1)
        kind = self.hessian
        if kind == "auto":
            kind = "full" if w_map.numel() <= FULL_MAX_PARAMS else "kron"
        eig = hessian_eigen(phi, probs, kind)
        self.prior_precision = self.fixed_prior or fit_prior_precision(eig, w_map)
        gen = torch_generator(derive_seed(seed, "laplace_weights"))
        self.weights = sample_weights(eig, w_map, self.prior_precision, self.samples, gen).float()

    @torch.no_grad()
    def sample_probs(self, x: torch.Tensor) -> torch.Tensor:
        phi = layer_inputs(self.net.embed(x), self.net.classifier)
        return torch.softmax(torch.einsum("nd,scd->snc", phi, self.weights), dim=-1)
