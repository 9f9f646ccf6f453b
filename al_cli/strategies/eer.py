"""Expected Error Reduction (Roy & McCallum 2001) with a last-layer refit per candidate label.

For each candidate x and label y, the last layer (multinomial logistic regression on frozen
penultimate embeddings, weights W0 as trained) is refit on the labeled set plus (x, y), and the
expected loss of the refit model on unlabeled evaluation points is weighted by p(y|x).

The refit minimises, over the weight change d,

    1/2 d' H d + CE(W0 + d; x, y),    H = Hessian of the labeled set's loss at W0 + l2 I,

that is the labeled loss in its second-order expansion around W0 (taken as its minimiser: the
network was trained on those labels) plus the exact loss of the new point. H is one matrix shared
by every candidate and label, never one per (x, y). The minimiser is d = -H^-1 (I (x) h_x) u for
a C-vector u, so each (x, y) is a C-dimensional convex problem, solved by damped Newton steps,
all candidates and labels at once. A batch is the top k by expected reduction: the candidates'
effects are not compounded, the usual approximation for batch EER.
"""

from __future__ import annotations

import math

import torch

from al_cli.errors import UserError, check_choice
from al_cli.last_layer import ggn_hessian, layer_inputs, layer_weights, softmax_hessian
from al_cli.progress import progress
from al_cli.strategies.base import Context, Selection, Strategy
from al_cli.strategies.candidates import Candidates, candidate_positions
from al_cli.strategies.selection import picked, top_k
from al_cli.threads import one_thread

LOSSES = ("log", "zero_one")
MAX_HESSIAN_BYTES = 4 * 2**30
NEWTON_STEPS = 20
STEP_SIZES = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.0)
"""Damping: each Newton step takes whichever of these fractions lowers the objective most."""


def last_layer_hessian(h: torch.Tensor, probs: torch.Tensor, l2: float) -> torch.Tensor:
    """Hessian ``[C*D, C*D]`` of sum_i CE over rows (h_i, p_i), plus l2 I; weights flattened
    class-major (row c of W is entries c*D .. c*D + D - 1)."""
    hess = ggn_hessian(h, probs)
    return hess + l2 * torch.eye(len(hess), dtype=torch.float64, device=h.device)


def _objective(u: torch.Tensor, g: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """1/2 u'Gu + CE(z - Gu; y) for u ``[X, Y, C]``, label y = the index along Y."""
    gu = torch.einsum("xqc,xyc->xyq", g, u)
    logits = z[:, None, :] - gu
    ce = torch.logsumexp(logits, -1) - torch.diagonal(logits, dim1=1, dim2=2)
    return 0.5 * (u * gu).sum(-1) + ce


def refit_coefficients(z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """The u ``[X, Y, C]`` minimising 1/2 u'Gu + CE(z - Gu; y) for every candidate and label.

    ``z`` ``[X, C]``: current logits; ``g`` ``[X, C, C]``: (I (x) h_x)' H^-1 (I (x) h_x). The
    gradient is G (u - a) with a = softmax(z - Gu) - e_y and the Hessian G (I + B G), so the
    Newton step is (I + B G)^-1 (u - a); B = diag(p) - pp' makes I + BG invertible.
    """
    x, c = z.shape
    eye = torch.eye(c, dtype=z.dtype, device=z.device)
    u = torch.zeros(x, c, c, dtype=z.dtype, device=z.device)
    for _ in range(NEWTON_STEPS):
        p = torch.softmax(z[:, None, :] - torch.einsum("xqc,xyc->xyq", g, u), -1)
        b = softmax_hessian(p.reshape(-1, c)).reshape(x, c, c, c)
        step = torch.linalg.solve(eye + b @ g[:, None], (u - (p - eye))[..., None])[..., 0]
        tries = torch.stack([_objective(u - s * step, g, z) for s in STEP_SIZES])
        best = torch.as_tensor(STEP_SIZES, dtype=z.dtype, device=z.device)[tries.argmin(0)]
        change = best[..., None] * step
        u = u - change
        if not change.abs().max() > 1e-12:  # converged everywhere
            break
    return u


def pool_loss(logits: torch.Tensor, loss: str, dim: int = -1) -> torch.Tensor:
    """Per-input loss of a prediction whose true label is unknown: its entropy (``log``) or
    its expected 0/1 error 1 - max p (``zero_one``); classes along ``dim``."""
    logits = logits - logits.amax(dim, keepdim=True)
    e = logits.exp()
    total = e.sum(dim)
    if loss == "log":  # H = log sum e^z - sum p z
        return total.log() - (e * logits).sum(dim) / total
    return 1.0 - 1.0 / total  # the largest shifted logit is 0


def expected_future_loss(
    weights: torch.Tensor,
    h_inv: torch.Tensor,
    h_cand: torch.Tensor,
    h_eval: torch.Tensor,
    loss: str = "log",
    chunk: int = 100,
) -> torch.Tensor:
    """sum_y p(y|x) mean_e loss(e | refit on labeled + (x, y)) for each candidate ``[X]``.

    ``weights`` ``[C, D]`` (bias as a column of ones in ``h``), ``h_inv`` the inverse of
    ``last_layer_hessian``, ``h_cand`` ``[X, D]``, ``h_eval`` ``[E, D]``. Candidates are
    processed ``chunk`` at a time, so memory is O(chunk C^2 (D + E)). The refit is solved in
    float64; the evaluation runs in ``h_eval``'s precision (float32 embeddings: half the time).
    """
    w = weights.double()
    c, d = w.shape
    h_inv = h_inv.reshape(c, d, c, d)
    z_eval = (h_eval.double() @ w.T).to(h_eval.dtype)
    out = []
    for i in progress(range(0, len(h_cand), chunk), "expected error", "chunk"):
        hx = h_cand[i : i + chunk].double()
        z = hx @ w.T
        k = torch.einsum("qjcd,xd->xcqj", h_inv, hx)  # H^-1 (e_c (x) h_x), as [C, D] matrices
        g = torch.einsum("xcqj,xj->xcq", k, hx)
        with one_thread():  # many small [chunk, C, C, C] steps: threads would only wait
            u = refit_coefficients(z, g)
        dw = -torch.einsum("xyc,xcqj->xyqj", u, k)  # weight change for each (x, y)
        # classes before evaluation points, so the reductions over classes run contiguously
        logits = z_eval.T + torch.einsum("xyqj,ej->xyqe", dw.to(h_eval.dtype), h_eval)
        risk = pool_loss(logits, loss, dim=2).mean(-1)  # [x, y]
        out.append((torch.softmax(z, -1) * risk).sum(-1))
    return torch.cat(out)


class EERStrategy(Strategy):
    """Picks the candidates whose label is expected to lower the pool's future loss most; each
    pick's score is minus its expected future loss."""

    needs = frozenset({"embed", "last_layer"})

    def __init__(
        self,
        loss: str = "log",
        candidates: int | None = 500,
        eval_points: int = 1000,
        l2: float = 1.0,
    ):
        check_choice("strategy.loss", loss, LOSSES)
        if eval_points <= 0:
            raise UserError(f"strategy.eval_points={eval_points} must be positive")
        if not (l2 > 0 and math.isfinite(l2)):
            raise UserError(f"strategy.l2={l2} must be a positive number")
        super().__init__(candidates)
        self.loss, self.eval_points, self.l2 = loss, int(eval_points), float(l2)

    def choose(self, ctx: Context, candidates: Candidates, k: int) -> Selection:
        # the evaluation points: a second draw over the whole pool, after the candidates'
        evals = candidate_positions(len(ctx.unlabeled_x), self.eval_points, ctx.rng)
        layer, embed = ctx.learner.last_layer(), ctx.learner.embed
        w = layer_weights(layer)
        size = w.numel() ** 2 * 8
        if size > MAX_HESSIAN_BYTES:
            raise UserError(
                f"strategy=eer needs the last layer's {w.numel()} x {w.numel()} Hessian "
                f"({size / 2**30:.0f} GiB); use a smaller last hidden layer (model.hidden) or "
                f"another strategy"
            )
        h_lab = layer_inputs(embed(ctx.labeled_x), layer)
        hess = last_layer_hessian(h_lab, torch.softmax(h_lab @ w.T, -1), self.l2)
        h_inv = torch.cholesky_inverse(torch.linalg.cholesky(hess))
        h_cand = layer_inputs(embed(candidates.x), layer)
        h_eval = layer_inputs(embed(ctx.unlabeled_x[evals]), layer)
        reduction = -expected_future_loss(w, h_inv, h_cand, h_eval, self.loss)
        return picked(reduction, top_k(reduction, k, ctx.generator))

    def describe(self) -> dict[str, str]:
        return {"acquisition": f"eer_{self.loss}", "selection": "topk"}
