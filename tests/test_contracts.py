"""Contracts every part of a kind must keep, checked over every registered part.

A new option is picked up with no new test code: every YAML in ``configs/posterior`` and
``configs/dataset``, and every entry of the acquisition registry, passes the same checks
(strategies have theirs in tests/test_strategies.py). A data set that needs files names how
to write them in ``FILES`` below; one without an entry fails, asking for it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from al_cli.data import DataSplit, load_dataset
from al_cli.posteriors import build_posterior, network_factory
from al_cli.strategies.scores import ACQUISITIONS
from tests.conftest import compose_config
from tests.test_data import WRITERS, write_image_folder, write_npz


def options(group: str) -> list[str]:
    folder = resources.files("al_cli.configs").joinpath(group)
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


# -- posteriors: [S, N, C] distributions, seeded, saved and loaded -----------------------------


def posterior_for(name: str, seed: int = 5):
    """The shipped posterior option, fitted on 40 inputs with 3 classes, and 25 test inputs."""
    cfg = compose_config(f"posterior={name}", "trainer.epochs=3", "trainer.min_steps=10")
    factory = network_factory(cfg.model, cfg.trainer, (6,), 3, torch.device("cpu"))
    posterior = build_posterior(cfg.posterior, factory)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, generator=gen)
    posterior.fit(x, torch.arange(40) % 3, seed)
    return posterior, torch.randn(25, 6, generator=gen)


@pytest.mark.parametrize("name", options("posterior"))
def test_posterior_contract(name: str):
    posterior, x = posterior_for(name)
    probs = posterior.sample_probs(x)
    assert probs.shape == (posterior.n_samples, len(x), 3)
    assert (probs >= 0).all() and torch.allclose(probs.sum(-1), torch.ones(()), atol=1e-5)
    assert "samples" in posterior.provides
    # the same seed gives the same samples; another seed other ones
    again, _ = posterior_for(name)
    torch.testing.assert_close(again.sample_probs(x), probs, rtol=0, atol=0)
    other, _ = posterior_for(name, seed=6)
    assert not torch.equal(other.sample_probs(x), probs)
    # it says whether it gives several samples, and that agrees with its count
    assert ("multiple_samples" in posterior.provides) == (posterior.n_samples >= 2)
    # what a warm-started run saves is what it loads (None: it cannot save its networks)
    saved = posterior.state_dict()
    if saved is not None:
        fresh, _ = posterior_for(name, seed=7)
        fresh.load_state_dict(saved)
        flat = [t for t in _tensors(saved)]
        loaded = _tensors(fresh.state_dict())
        assert flat and all(torch.equal(a, b) for a, b in zip(flat, loaded, strict=True))
    if "embed" in posterior.provides:
        assert posterior.embed(x).shape[0] == len(x)
    if "last_layer" in posterior.provides:
        assert isinstance(posterior.last_layer(), torch.nn.Linear)


def _tensors(state: object) -> list[torch.Tensor]:
    if isinstance(state, torch.Tensor):
        return [state]
    if isinstance(state, dict):
        return [t for k in sorted(state) for t in _tensors(state[k])]
    if isinstance(state, (list, tuple)):
        return [t for v in state for t in _tensors(v)]
    return []


# -- acquisitions: [S, N, C] -> [N], higher = more worth labeling -----------------------------

CONFIDENT = [0.98, 0.01, 0.01]
UNSURE = [0.34, 0.33, 0.33]
CASE = torch.tensor(
    [
        [CONFIDENT, UNSURE, [0.98, 0.01, 0.01]],
        [CONFIDENT, UNSURE, [0.01, 0.98, 0.01]],
        [CONFIDENT, UNSURE, [0.01, 0.01, 0.98]],
        [CONFIDENT, UNSURE, [0.98, 0.01, 0.01]],
    ],
    dtype=torch.float64,
)
"""Four posterior samples of three inputs: 0 is confident and all samples agree, 1 is unsure
and all samples agree, 2 is confident in every sample but the samples disagree."""


@pytest.mark.parametrize("name", sorted(ACQUISITIONS))
def test_acquisition_contract(name: str):
    acquisition = ACQUISITIONS[name]
    score = acquisition(CASE)
    assert score.shape == (3,) and torch.isfinite(score).all()
    if acquisition.several_samples:  # measures disagreement between samples
        assert score[2] > score[1] and score[2] > score[0]
        assert abs(float(score[1] - score[0])) < 1e-6  # agreement: no difference
    else:  # measures the uncertainty of the mean prediction
        assert score[1] > score[0] and score[2] > score[0]
    # one sample: a deterministic network
    single = acquisition(CASE[:1])
    assert single.shape == (3,)
    if acquisition.several_samples:
        assert torch.allclose(single, single[0].expand(3))


# -- data loaders: every option gives a valid, reproducible DataSplit -------------------------


def npz_files(root: Path) -> list[str]:
    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    write_npz(root / "d.npz", x=rng.normal(size=(60, 5)) + y[:, None], y=y)
    return [f"dataset.path={root / 'd.npz'}"]


def image_files(root: Path) -> list[str]:
    write_image_folder(root / "images", per_class=8)
    return [f"dataset.path={root / 'images'}", "dataset.image_size=12"]


def torchvision_files(name: str):
    def write(root: Path) -> list[str]:
        WRITERS[name](root)
        return [f"paths.data_dir={root}", "dataset.download=false"]

    return write


FILES = {
    "digits": lambda root: [],
    "synthetic": lambda root: [],
    "npz": npz_files,
    "image_folder": image_files,
    **{name: torchvision_files(name) for name in WRITERS},
}
"""How to give each data set option its files in a test (overrides, after writing them)."""


@pytest.mark.parametrize("name", options("dataset"))
def test_data_loader_contract(name: str, tmp_path: Path):
    assert name in FILES, f"dataset={name} has no entry in FILES: say how to write its files"
    cfg = compose_config(f"dataset={name}", *FILES[name](tmp_path))
    assert not OmegaConf.missing_keys(cfg)
    split = load_dataset(cfg.dataset)
    assert isinstance(split, DataSplit) and split.name == name
    for x, y in ((split.pool_x, split.pool_y), (split.test_x, split.test_y)):
        assert x.dtype == torch.float32 and y.dtype == torch.long
        assert len(x) == len(y) > 0 and torch.isfinite(x).all()
        assert int(y.min()) >= 0 and int(y.max()) < split.num_classes
    assert split.num_classes >= 2 and split.test_x.shape[1:] == split.pool_x.shape[1:]
    assert len(torch.unique(split.pool_y)) >= 2
    again = load_dataset(cfg.dataset)  # the same config reads the same data
    assert torch.equal(again.pool_x, split.pool_x) and torch.equal(again.test_y, split.test_y)
