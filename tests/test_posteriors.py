"""Posteriors: MC Dropout (fast path against full passes), deep ensembles, BNN, Laplace."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn
from torch.nn import functional as F

from al_cli.errors import UserError
from al_cli.posteriors import Posterior, build_posterior, network_factory
from al_cli.posteriors.laplace import hessian_eigen, sample_weights
from al_cli.strategies.scores import bald
from tests.conftest import compose_config

TRAINER = OmegaConf.create(
    {
        "optimizer": "adam",
        "lr": 1e-2,
        "weight_decay": 0.0,
        "momentum": 0.9,
        "epochs": 3,
        "min_steps": 10,
        "batch_size": 16,
        "eval_batch_size": 64,
        "warm_start": False,
        "l2_per_label": 0.0,
        "l2_scope": "hidden",
        "last_batch": "keep",
        "sampling": "epochs",
        "amp": False,
    }
)
MLP = {"name": "mlp", "_target_": "al_cli.models.mlp.MLP", "hidden": [16, 12], "dropout": 0.3}
CNN = {
    "name": "cnn",
    "_target_": "al_cli.models.cnn.GalCNN",
    "filters": 4,
    "kernel_size": 3,
    "hidden": [8],
    "conv_dropout": 0.25,
    "dropout": 0.5,
}
KEYS = {"deep_ensemble": {"members": 3}, "bnn": {"prior_sigma": 0.1}}
"""Where the tests' posteriors differ from the shipped options."""


def with_bias(phi: torch.Tensor) -> torch.Tensor:
    return torch.cat([phi, torch.ones(len(phi), 1, dtype=phi.dtype)], dim=1)


def fitted(posterior: str, model: dict, shape: tuple[int, ...], n: int = 40, **keys):
    """A posterior fitted on ``n`` random inputs of ``shape`` with 3 classes, and the inputs."""
    factory = network_factory(OmegaConf.create(model), TRAINER, shape, 3, torch.device("cpu"))
    cfg = compose_config(f"posterior={posterior}").posterior
    cfg = OmegaConf.merge(cfg, {**KEYS.get(posterior, {}), **keys})
    post = build_posterior(cfg, factory)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, *shape, generator=gen)
    y = torch.randint(0, 3, (n,), generator=gen)
    post.fit(x, y, seed=5)
    return post, x


# -- MC Dropout ------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "shape"), [(MLP, (6,)), (CNN, (1, 10, 10))])
def test_mc_dropout_fast_path_equals_full_passes_under_the_same_masks(model, shape):
    post, x = fitted("mc_dropout", model, shape)
    assert post.plan is not None
    fast = post.sample_logits(x)
    post.fast = False
    full = post.sample_logits(x)
    assert fast.shape == (20, len(x), 3)
    torch.testing.assert_close(fast, full, rtol=1e-5, atol=1e-5)
    # samples differ across passes, and the mean is not the plain network's output
    assert fast.std(dim=0).mean() > 1e-3
    assert not torch.allclose(fast.mean(0), post.net(x), atol=1e-4)


def test_mc_dropout_fresh_masks_match_full_passes_in_distribution():
    post, _ = fitted("mc_dropout", MLP, (6,), consistent_masks=False, samples=400)
    x = torch.randn(1, 6).repeat(8, 1)  # one input, eight times
    fast = post.sample_probs(x)
    post.fast = False
    full = post.sample_probs(x)
    # fresh masks: copies of one input get different samples
    assert not torch.allclose(fast[:, 0], fast[:, 1])
    # both paths estimate the same mean and spread (400 samples x 8 copies each)
    torch.testing.assert_close(fast.mean((0, 1)), full.mean((0, 1)), atol=0.02, rtol=0)
    torch.testing.assert_close(fast.std(0).mean(0), full.std(0).mean(0), atol=0.02, rtol=0)


def test_consistent_masks_are_shared_by_every_input_and_fixed_per_round():
    post, _ = fitted("mc_dropout", CNN, (1, 10, 10))
    x = torch.randn(1, 1, 10, 10).repeat(3, 1, 1, 1)
    a = post.sample_probs(x)
    torch.testing.assert_close(a[:, 0], a[:, 2])  # same sub-network for every input
    torch.testing.assert_close(post.sample_probs(x), a)  # and the same on every call
    bigger = torch.cat([torch.randn(5, 1, 10, 10), x])
    torch.testing.assert_close(post.sample_probs(bigger)[:, 5:], a)  # batching does not matter


class BatchNormNet(nn.Module):
    """features with BatchNorm before the dropout; the classifier last."""

    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.Linear(input_shape[0], 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5)
        )
        self.classifier = nn.Linear(16, num_classes)

    def embed(self, x):
        return self.features(x)

    def forward(self, x):
        return self.classifier(self.features(x))


def test_mc_dropout_leaves_batchnorm_statistics_alone():
    model = {"name": "bn", "_target_": "tests.test_posteriors.BatchNormNet"}
    post, x = fitted("mc_dropout", model, (6,))
    bn = post.net.features[1]
    before = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    for fast in (True, False):
        post.fast = fast
        assert post.sample_probs(torch.randn(50, 6) * 5 + 3).std(0).mean() > 0
    assert not bn.training
    torch.testing.assert_close(bn.running_mean, before[0])
    torch.testing.assert_close(bn.running_var, before[1])
    assert int(bn.num_batches_tracked) == before[2]


class NestedDropoutNet(nn.Module):
    """A dropout inside a sub-block: no sequential plan, so full passes are used."""

    def __init__(self, input_shape, num_classes):
        super().__init__()
        self.block = nn.Sequential(nn.Linear(input_shape[0], 16), nn.ReLU(), nn.Dropout(0.5))
        self.classifier = nn.Linear(16, num_classes)

    def embed(self, x):
        return self.block(x)

    def forward(self, x):
        return self.classifier(self.block(x) + 0.0)


class Dropout2dNet(NestedDropoutNet):
    def __init__(self, input_shape, num_classes):
        super().__init__(input_shape, num_classes)
        self.block[2] = nn.Dropout1d(0.5)


class FunctionalDropoutNet(NestedDropoutNet):
    def forward(self, x):
        return self.classifier(F.dropout(self.block(x), 0.5, training=self.training))


def test_mc_dropout_falls_back_to_full_passes_for_other_models():
    model = {"name": "nested", "_target_": "tests.test_posteriors.NestedDropoutNet"}
    post, x = fitted("mc_dropout", model, (6,))
    assert post.plan is None
    probs = post.sample_probs(x)
    assert probs.shape == (20, len(x), 3) and probs.std(0).mean() > 1e-3


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({**MLP, "dropout": 0.0}, "has no nn.Dropout"),
        ({"name": "d1", "_target_": "tests.test_posteriors.Dropout2dNet"}, "Dropout1d at block.2"),
        ({"name": "fn", "_target_": "tests.test_posteriors.FunctionalDropoutNet"}, "functional"),
    ],
)
def test_mc_dropout_refuses_dropout_it_cannot_control(model, message):
    with pytest.raises(UserError, match=message):
        fitted("mc_dropout", model, (6,))


# -- Deep ensembles --------------------------------------------------------------------------


def test_deep_ensemble_members_differ_and_count_m():
    post, x = fitted("deep_ensemble", MLP, (6,), members=4)
    probs = post.sample_probs(x)
    assert probs.shape == (4, len(x), 3) and post.n_samples == 4
    for a in range(4):
        for b in range(a + 1, 4):
            assert not torch.allclose(probs[a], probs[b], atol=1e-3)


# -- BNN -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "shape"), [(MLP, (6,)), (CNN, (1, 10, 10))])
def test_bnn_kl_is_finite_and_positive_and_samples_differ(model, shape):
    post, x = fitted("bnn", model, shape)
    assert len(post.layers) == (3 if model is MLP else 4)
    kl = post.kl()
    assert torch.isfinite(kl) and kl > 0
    probs = post.sample_probs(x)
    assert probs.shape == (20, len(x), 3)
    assert probs.std(0).mean() > 1e-3
    assert bald(probs).mean() > 0
    # each weight sample is one network for every input
    twice = post.sample_probs(torch.cat([x[:1], x[:1]]))
    torch.testing.assert_close(twice[:, 0], twice[:, 1])
    torch.testing.assert_close(post.sample_probs(x), probs)


def test_bnn_kl_matches_torch_distributions():
    post, _ = fitted("bnn", MLP, (6,))
    layer = post.layers[0]
    sw, sb = layer.sigmas()
    prior = torch.distributions.Normal(0.0, 0.1)
    expected = sum(
        torch.distributions.kl_divergence(torch.distributions.Normal(mu, s), prior).sum()
        for mu, s in ((layer.weight_mu, sw), (layer.bias_mu, sb))
    )
    torch.testing.assert_close(layer.kl(), expected)


# -- Laplace ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["full", "kron"])
def test_laplace_predictive_variance_shrinks_as_labeled_data_grows(kind):
    gen = torch.Generator().manual_seed(0)
    w_map = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    test_phi = with_bias(torch.randn(50, 4, generator=gen, dtype=torch.float64))
    spread = []
    for n in (10, 100, 1000):
        phi = with_bias(torch.randn(n, 4, generator=gen, dtype=torch.float64))
        probs = torch.softmax(phi @ w_map.T, dim=1)
        eig = hessian_eigen(phi, probs, kind)
        w = sample_weights(eig, w_map, 1.0, 2000, torch.Generator().manual_seed(1))
        p = torch.softmax(torch.einsum("nd,scd->snc", test_phi, w), dim=-1)
        spread.append(float(p.var(0).sum(-1).mean()))
    assert spread[0] > 2 * spread[1] > 4 * spread[2] > 0


def test_laplace_full_hessian_matches_its_definition_and_kron_its_factors():
    gen = torch.Generator().manual_seed(0)
    phi = with_bias(torch.randn(7, 2, generator=gen, dtype=torch.float64))
    probs = torch.softmax(torch.randn(7, 3, generator=gen, dtype=torch.float64), dim=1)
    h = torch.zeros(9, 9, dtype=torch.float64)
    for p, f in zip(probs, phi, strict=True):
        h += torch.kron(torch.diag(p) - torch.outer(p, p), torch.outer(f, f))
    eig = hessian_eigen(phi, probs, "full")
    q, v = eig["vectors"], eig["values"]
    torch.testing.assert_close(q @ torch.diag(v) @ q.T, h)
    kron = hessian_eigen(phi, probs, "kron")
    g = kron["qg"] @ torch.diag(kron["g"]) @ kron["qg"].T
    a = kron["qa"] @ torch.diag(kron["a"]) @ kron["qa"].T
    lam = torch.stack([torch.diag(p) - torch.outer(p, p) for p in probs])
    torch.testing.assert_close(g, lam.mean(0))
    torch.testing.assert_close(a, phi.T @ phi)
    # sampled covariance is the inverse of the precision H + delta I
    w = sample_weights(eig, torch.zeros(3, 3, dtype=torch.float64), 2.0, 200000, gen)
    cov = torch.cov(w.reshape(len(w), -1).T)
    torch.testing.assert_close(cov, torch.linalg.inv(h + 2.0 * torch.eye(9)), atol=5e-3, rtol=0)


def test_laplace_posterior_samples_differ_and_fit_a_prior():
    post, x = fitted("laplace", MLP, (6,))
    assert post.prior_precision > 0
    probs = post.sample_probs(x)
    assert probs.shape == (20, len(x), 3) and probs.std(0).mean() > 1e-3
    fixed, _ = fitted("laplace", MLP, (6,), prior_precision=1e6, hessian="kron")
    assert fixed.prior_precision == 1e6
    assert fixed.sample_probs(x).std(0).mean() < probs.std(0).mean()


def test_mc_dropout_test_dropout_off_scores_the_network_with_dropout_off():
    """``posterior.test_dropout=false`` (Keras's test mode, as Gal et al. 2017 evaluated):
    evaluation sees the plain network; the samples, and so every selection, are unchanged."""
    from al_cli.learner import Learner

    on, x = fitted("mc_dropout", CNN, (1, 10, 10))
    off, _ = fitted("mc_dropout", CNN, (1, 10, 10), test_dropout=False)
    torch.testing.assert_close(off.sample_probs(x), on.sample_probs(x))
    plain = torch.softmax(off.net.eval()(x), dim=-1)
    cpu = torch.device("cpu")
    torch.testing.assert_close(Learner(off, cpu, 7).predict_proba(x), plain)
    mean = Learner(on, cpu, 7).predict_proba(x)
    torch.testing.assert_close(mean, on.sample_probs(x).mean(dim=0))
    assert not torch.allclose(mean, plain, atol=1e-3)


class Two(Posterior):
    """A user's posterior of two samples, that may forget to say it gives several."""

    n_samples = 2

    def __init__(self, factory, declare: bool = False):
        self.provides = frozenset({"samples"} | ({"multiple_samples"} if declare else set()))

    def fit(self, x, y, seed):
        pass

    def sample_probs(self, x):
        return torch.full((2, len(x), 3), 1 / 3)


class NoSamples(Posterior):
    """A user's posterior that forgets ``sample_probs``."""

    n_samples = 1

    def __init__(self, factory):
        pass

    def fit(self, x, y, seed):
        pass


def user_posterior(name: str, **keys):
    factory = network_factory(OmegaConf.create(MLP), TRAINER, (6,), 3, torch.device("cpu"))
    cfg = OmegaConf.create({"name": name, "_target_": f"tests.test_posteriors.{name}", **keys})
    return build_posterior(cfg, factory)


def test_a_posterior_declares_several_samples_exactly_when_it_gives_them():
    with pytest.raises(UserError, match="n_samples=2 but does not declare multiple_samples"):
        user_posterior("Two")
    two = user_posterior("Two", declare=True)
    assert "multiple_samples" in two.provides
    # the interface's defaults: no factory, no saved networks (and it says so), no embeddings
    assert two.state_dict() is None and two.factory is None
    with pytest.raises(UserError, match="cannot load saved networks"):
        two.load_state_dict({})
    with pytest.raises(UserError, match="gives no embeddings"):
        two.embed(torch.zeros(1, 6))


def test_a_posterior_missing_an_abstract_method_is_refused_in_one_line():
    with pytest.raises(UserError, match="does not implement sample_probs"):
        user_posterior("NoSamples")
