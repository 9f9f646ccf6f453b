"""Expected error reduction: the shared Hessian, the vectorised refit against a naive one per
(x, y), and the choice it makes on a hand-built pool."""

from __future__ import annotations

import pytest
import torch

from al_cli.strategies.eer import expected_future_loss, last_layer_hessian, pool_loss


def ce_sum(w: torch.Tensor, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(h @ w.T, y, reduction="sum")


def test_hessian_matches_autograd():
    torch.manual_seed(0)
    h, w, y = torch.randn(7, 4).double(), torch.randn(3, 4).double(), torch.randint(3, (7,))
    auto = torch.autograd.functional.hessian(lambda v: ce_sum(v.reshape(3, 4), h, y), w.flatten())
    ours = last_layer_hessian(h, torch.softmax(h @ w.T, 1), l2=0.5)
    assert torch.allclose(ours, auto + 0.5 * torch.eye(12, dtype=torch.float64), atol=1e-10)


def naive_expected_loss(w0, hess, h_cand, h_eval, loss):
    """For each candidate and label in turn: refit the full weight matrix by L-BFGS on
    1/2 d'Hd + CE(w0 + d; x, y), then average the loss over the evaluation points."""
    out = []
    for hx in h_cand:
        p = torch.softmax(hx @ w0.T, 0)
        risk = 0.0
        for y in range(w0.shape[0]):
            d = torch.zeros_like(w0).flatten().requires_grad_()
            opt = torch.optim.LBFGS(
                [d], max_iter=500, tolerance_grad=1e-13, tolerance_change=0,
                line_search_fn="strong_wolfe",
            )  # fmt: skip

            def closure(y=y, hx=hx, d=d, opt=opt):
                opt.zero_grad()
                w = w0 + d.reshape(w0.shape)
                f = 0.5 * d @ hess @ d + ce_sum(w, hx[None], torch.tensor([y]))
                f.backward()
                return f

            opt.step(closure)
            w = (w0 + d.reshape(w0.shape)).detach()
            risk += p[y] * pool_loss(h_eval @ w.T, loss).mean()
        out.append(float(risk))
    return out


@pytest.mark.parametrize("loss", ["log", "zero_one"])
def test_vectorised_refit_matches_naive_refit(loss: str):
    torch.manual_seed(1)
    c, d = 3, 4
    h_lab = torch.cat([torch.randn(10, d - 1), torch.ones(10, 1)], 1).double()
    w0 = torch.randn(c, d).double()
    hess = last_layer_hessian(h_lab, torch.softmax(h_lab @ w0.T, 1), l2=0.3)
    h_cand = torch.cat([3 * torch.randn(4, d - 1), torch.ones(4, 1)], 1).double()
    h_eval = torch.cat([torch.randn(6, d - 1), torch.ones(6, 1)], 1).double()
    ours = expected_future_loss(w0, torch.linalg.inv(hess), h_cand, h_eval, loss, chunk=3)
    naive = naive_expected_loss(w0, hess, h_cand, h_eval, loss)
    assert ours.tolist() == pytest.approx(naive, rel=1e-6, abs=1e-9)
    now = pool_loss(h_eval @ w0.T, loss).mean()
    assert not torch.allclose(ours, now.expand(4), atol=1e-3)  # the refit does change things


def test_eer_resolves_an_ambiguous_region_rather_than_an_outlier():
    # 2-d embeddings plus a bias input; the current boundary is the vertical axis x = 0
    g = torch.Generator().manual_seed(0)
    w0 = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]], dtype=torch.float64)

    def pts(x, y, n, spread):
        xy = torch.tensor([x, y]) + spread * torch.randn(n, 2, generator=g)
        return torch.cat([xy, torch.ones(n, 1)], 1).double()

    h_lab = torch.cat([pts(3, 0, 5, 0.3), pts(-3, 0, 5, 0.3)])
    hess = last_layer_hessian(h_lab, torch.softmax(h_lab @ w0.T, 1), l2=1.0)
    region = pts(0, 3, 40, 0.2)  # many ambiguous inputs close together
    outlier = pts(0, -8, 1, 0.0)  # one ambiguous input far away
    confident = pts(4, 0, 1, 0.0)
    h_cand = torch.cat([outlier, region[:1], confident])
    h_eval = torch.cat([region, outlier])
    for loss in ("log", "zero_one"):
        risk = expected_future_loss(w0, torch.linalg.inv(hess), h_cand, h_eval, loss)
        assert int(risk.argmin()) == 1, risk


def test_eer_refuses_a_last_layer_whose_hessian_would_not_fit():
    from types import SimpleNamespace

    import numpy as np

    from al_cli.errors import UserError
    from al_cli.strategies.eer import EERStrategy

    layer = torch.nn.Linear(1000, 100)  # 100,100 weights: an 80 GB Hessian
    learner = SimpleNamespace(last_layer=lambda: layer, embed=lambda x: x)
    ctx = SimpleNamespace(
        learner=learner, unlabeled_x=torch.zeros(50, 1000), rng=np.random.default_rng(0)
    )
    strategy = EERStrategy()
    with pytest.raises(UserError, match="100100 x 100100 Hessian"):
        strategy.select(ctx, 5)
