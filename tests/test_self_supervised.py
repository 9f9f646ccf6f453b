"""Learned representations: SimCLR (its NT-Xent loss against the formula, its views, what its
encoder learns, and that it never sees a label or a test input), a pretrained torchvision
backbone read from torch's cache only, and a classifier head trained on the frozen features
(``model=head``), unit by unit and through the real command."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from al_cli.data import DataSplit
from al_cli.errors import UserError
from al_cli.models.head import Head
from al_cli.representations import build_representation, load_features
from al_cli.representations import views as views_module
from al_cli.representations.pretrained import TorchvisionBackbone, checkpoint_path, weights_enum
from al_cli.representations.simclr import SimCLR, encoder, nt_xent, projection_head
from al_cli.representations.views import Standardise, image_view, resized_crop, vector_view
from al_cli.seeding import seeded
from al_cli.setup import setup
from tests.conftest import DIGITS_TINY, FAST, compose_config, one_line_error, run_al, run_info

FEW_EPOCHS = ["representation=simclr", "representation.epochs=2", "representation.dim=16"]


def digit_images(n: int, test: int = 20) -> DataSplit:
    """``n`` pool and ``test`` test digits as 1x8x8 images, standardised (labels real, so a
    test can tell whether anything read them)."""
    data = load_digits()
    x = torch.tensor(data.data[: n + test], dtype=torch.float32).reshape(-1, 1, 8, 8)
    x = (x - x.mean()) / x.std()
    y = torch.tensor(data.target[: n + test])
    return DataSplit("digits", x[:n], y[:n], x[n:], y[n:], 10)


# ---------------------------------------------------------------- NT-Xent


def nt_xent_by_the_formula(z1: torch.Tensor, z2: torch.Tensor, t: float) -> float:
    """SimCLR's eq. 1, view by view: -log(exp(sim(i, j)/t) / sum_{k != i} exp(sim(i, k)/t)),
    averaged over the 2n views."""
    z = [F.normalize(v, dim=0) for v in torch.cat([z1, z2])]
    n, total = len(z1), 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        others = sum(math.exp(float(z[i] @ z[k]) / t) for k in range(2 * n) if k != i)
        total += -math.log(math.exp(float(z[i] @ z[j]) / t) / others)
    return total / (2 * n)


def test_nt_xent_is_the_formula_on_a_hand_made_batch():
    z1 = torch.tensor([[1.0, 0.0, 2.0], [0.5, -1.0, 0.0], [3.0, 3.0, -1.0]])
    z2 = torch.tensor([[0.9, 0.2, 2.0], [-1.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    for t in (0.5, 0.1, 2.0):
        assert float(nt_xent(z1, z2, t)) == pytest.approx(nt_xent_by_the_formula(z1, z2, t))
    # two inputs whose views agree and are orthogonal to the other's: each view's partner has
    # similarity 1, its two other candidates 0
    e = torch.eye(2)
    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + 2))
    assert float(nt_xent(e, e, 0.5)) == pytest.approx(expected)
    # partners swapped (each view matched with the other input's): a higher loss
    assert float(nt_xent(e, e.flip(0), 0.5)) > expected + 1


# ---------------------------------------------------------------- views


def test_a_crop_of_the_whole_image_is_the_image(monkeypatch):
    """The crop's geometry: at full area and aspect 1 the resampling grid falls on the pixels."""
    monkeypatch.setattr(views_module, "CROP_SCALE", (1.0, 1.0))
    monkeypatch.setattr(views_module, "CROP_RATIO", (1.0, 1.0))
    x = torch.rand(5, 3, 8, 8)
    torch.testing.assert_close(resized_crop(x, torch.Generator().manual_seed(0), False), x)


def test_views_differ_and_stay_images():
    x = torch.rand(16, 3, 10, 10)
    g = torch.Generator().manual_seed(0)
    a, b = image_view(x, g), image_view(x, g)
    assert a.shape == x.shape and not torch.equal(a, b)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    grey = image_view(torch.rand(4, 1, 8, 8), g)  # one channel: no colour, no mirror
    assert grey.shape == (4, 1, 8, 8)


def test_a_vector_view_takes_replaced_features_from_the_same_feature_of_the_pool():
    pool = torch.arange(40.0).reshape(10, 4) * torch.tensor([1.0, 100, 1e4, 1e6])
    view = vector_view(pool[:3], pool, torch.Generator().manual_seed(0))
    for j in range(4):
        assert set(view[:, j].tolist()) <= set(pool[:, j].tolist())
    assert not torch.equal(view, pool[:3])


# ---------------------------------------------------------------- the encoder


def cosine_of_views(net: nn.Module, x: torch.Tensor, g: torch.Generator) -> tuple[float, float]:
    """Mean cosine similarity of the outputs of two views of the same input, and of views of
    different inputs (``net``: the inputs' standardisation, encoder and projection head)."""
    net.eval()
    with torch.no_grad():
        a = F.normalize(net(image_view(x, g)), dim=1)
        b = F.normalize(net(image_view(x, g)), dim=1)
    similarity = a @ b.T
    n = len(x)
    positive = float(similarity.diag().mean())
    negative = float((similarity.sum() - similarity.diag().sum()) / (n * n - n))
    return positive, negative


def test_after_a_few_epochs_two_views_of_an_input_are_closer_than_views_of_two():
    """What NT-Xent asks for, measured where it asks it (the projection head's output): two
    views of one digit end up far more alike than views of two, which at initialisation
    they are not."""
    split = digit_images(256)
    x = (split.pool_x - split.pool_x.min()) / (split.pool_x.max() - split.pool_x.min())
    with seeded(0):
        net, head = encoder((1, 8, 8), 16), projection_head(16)
    standardise = Standardise.of(x)
    whole = nn.Sequential(Standardised(standardise), net, head)
    g = torch.Generator().manual_seed(1)
    before = cosine_of_views(whole, x, g)
    SimCLR(epochs=8, dim=16, batch_size=64, lr=3e-3).fit(net, head, x, standardise)
    positive, negative = cosine_of_views(whole, x, g)
    assert positive > negative + 0.5, (before, (positive, negative))
    assert before[0] - before[1] < 0.1


class Standardised(nn.Module):
    """``Standardise`` as a module, to sit in front of the encoder."""

    def __init__(self, standardise: Standardise):
        super().__init__()
        self.standardise = standardise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.standardise(x)


def test_simclr_never_reads_a_label_or_a_test_input():
    """Shuffled labels and NaN test inputs: the same encoder, so the same pool features; the
    test features are the encoder's of the test inputs (NaN in, NaN out)."""
    split = digit_images(128)
    simclr = SimCLR(epochs=2, dim=8, batch_size=32)
    reference = simclr.compute(split)
    blind = DataSplit(
        "digits",
        split.pool_x,
        split.pool_y[torch.randperm(len(split.pool_y))],
        torch.full_like(split.test_x, float("nan")),
        torch.zeros_like(split.test_y),
        10,
    )
    features = simclr.compute(blind)
    assert torch.equal(features.pool, reference.pool)
    assert torch.isfinite(features.pool).all() and torch.isnan(features.test).all()
    other_test = simclr.compute(
        DataSplit("d", split.pool_x, split.pool_y, split.pool_x[:5], split.pool_y[:5], 10)
    )
    assert torch.equal(other_test.pool, reference.pool)
    torch.testing.assert_close(other_test.test, reference.pool[:5])


def test_simclr_is_deterministic_for_its_seed():
    split = digit_images(64, test=8)
    a, b = (SimCLR(epochs=1, dim=8, batch_size=32).compute(split) for _ in range(2))
    assert torch.equal(a.pool, b.pool) and torch.equal(a.test, b.test)
    c = SimCLR(epochs=1, dim=8, batch_size=32, seed=1).compute(split)
    assert not torch.equal(a.pool, c.pool)
    assert a.pool.shape == (64, 8) and a.test.shape == (8, 8)


def test_flat_inputs_train_an_mlp_and_can_be_viewed_as_images():
    split = digit_images(64, test=8)
    flat = DataSplit(
        "d",
        split.pool_x.reshape(64, 64),
        split.pool_y,
        split.test_x.reshape(8, 64),
        split.test_y,
        10,
    )
    features = SimCLR(epochs=1, dim=8, batch_size=32).compute(flat)
    assert features.pool.shape == (64, 8)
    as_images = SimCLR(epochs=1, dim=8, batch_size=32, image_shape=[1, 8, 8])
    assert torch.equal(
        as_images.compute(flat).pool, SimCLR(epochs=1, dim=8, batch_size=32).compute(split).pool
    )
    with pytest.raises(UserError, match=r"representation.image_shape=\[1, 4, 4\] holds 16"):
        SimCLR(image_shape=[1, 4, 4]).check(flat)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("temperature", 0),
        ("temperature", -0.5),
        ("epochs", 0),
        ("dim", 0),
        ("batch_size", 1),
        ("lr", 0),
    ],
)
def test_simclr_refuses_keys_out_of_range(key: str, value: float):
    with pytest.raises(UserError, match=rf"representation\.{key}={value}"):
        SimCLR(**{key: value})


def test_the_cache_holds_one_simclr_for_every_run_seed(tmp_path: Path):
    """Two run seeds read one file: the encoder's seed is its own, part of the key."""
    records = []
    for overrides in (["seed=0"], ["seed=1"], ["seed=1", "representation.seed=1"]):
        cfg = compose_config(*FAST, *FEW_EPOCHS, f"paths.cache_dir={tmp_path}", *overrides)
        from al_cli.data import load_dataset

        split = load_dataset(cfg.dataset)
        _, record = load_features(
            build_representation(cfg.representation), cfg, split, torch.device("cpu")
        )
        records.append(record)
    assert [r["from_cache"] for r in records] == [False, True, False]
    assert records[0]["path"] == records[1]["path"] != records[2]["path"]
    assert len(list((tmp_path / "representations").iterdir())) == 2


# ---------------------------------------------------------------- torchvision


@pytest.fixture
def hub(tmp_path: Path, monkeypatch) -> Path:
    """An empty torch cache of this test's own (``TORCH_HOME``)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def fake_checkpoint(hub: Path, arch: str, weights: str) -> nn.Module:
    """A randomly initialised ``arch`` saved where torchvision keeps ``weights``' file."""
    import torchvision

    torch.manual_seed(7)
    net = torchvision.models.get_model(arch, weights=None)
    path = checkpoint_path(weights_enum(arch, weights))
    assert path.parent == hub
    hub.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return net.eval()


def test_absent_weights_are_refused_with_the_way_to_get_them(hub: Path):
    with pytest.raises(UserError) as info:
        TorchvisionBackbone("resnet18", "IMAGENET1K_V1")
    line = str(info.value)
    url = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert "\n" not in line and url in line and str(hub / "resnet18-f37072fd.pth") in line
    assert "never downloads" in line and not hub.exists()


@pytest.mark.parametrize(
    ("arch", "weights", "words"),
    [
        ("resnet7", "IMAGENET1K_V1", "representation.arch='resnet7'"),
        ("resnet18", "IMAGENET9K", "representation.weights='IMAGENET9K'"),
        ("resnet18", "ResNet50_Weights.IMAGENET1K_V1", "IMAGENET1K_V1"),
    ],
)
def test_unknown_architectures_and_weights_are_refused(
    hub: Path, arch: str, weights: str, words: str
):
    with pytest.raises(UserError, match=words.replace(".", r"\.")):
        TorchvisionBackbone(arch, weights)


def test_the_backbone_reads_the_cached_checkpoint(hub: Path):
    """The features are those of the network in the cache, without its last layer, of the
    images scaled to [0, 1], repeated to three channels, resized and normalised as the
    weights' transforms say."""
    reference = fake_checkpoint(hub, "resnet18", "IMAGENET1K_V1")
    split = digit_images(4, test=2)
    backbone = TorchvisionBackbone("resnet18", "ResNet18_Weights.IMAGENET1K_V1", batch_size=3)
    backbone.check(split)
    features = backbone.compute(split)
    assert features.pool.shape == (4, 512) and features.test.shape == (2, 512)
    lo, hi = split.pool_x.min(), split.pool_x.max()
    reference.fc = nn.Identity()
    transform = weights_enum("resnet18", "IMAGENET1K_V1").transforms()
    with torch.no_grad():
        for ours, x in ((features.pool, split.pool_x), (features.test, split.test_x)):
            images = ((x - lo) / (hi - lo)).expand(-1, 3, -1, -1)
            torch.testing.assert_close(ours, reference(transform(images)), atol=1e-4, rtol=1e-4)


def test_a_checkpoint_of_another_network_is_refused(hub: Path):
    fake_checkpoint(hub, "resnet18", "IMAGENET1K_V1")
    path = checkpoint_path(weights_enum("resnet18", "IMAGENET1K_V1"))
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(UserError, match="is not a checkpoint of resnet18"):
        TorchvisionBackbone().compute(digit_images(2, test=1))


def test_the_backbone_needs_images(hub: Path):
    fake_checkpoint(hub, "resnet18", "IMAGENET1K_V1")
    flat = DataSplit(
        "t",
        torch.zeros(4, 10),
        torch.zeros(4, dtype=torch.long),
        torch.zeros(2, 10),
        torch.zeros(2, dtype=torch.long),
        2,
    )
    with pytest.raises(UserError, match="representation.image_shape"):
        TorchvisionBackbone().check(flat)


# ---------------------------------------------------------------- the head


def test_a_head_without_hidden_layers_is_linear_on_the_features():
    head = Head((12,), 3)
    x = torch.randn(5, 12)
    assert torch.equal(head.embed(x), x) and head.embedding_dim == 12
    torch.testing.assert_close(head(x), head.classifier(x))
    mlp = Head((12,), 3, hidden=[8], dropout=0.5)
    assert mlp.embedding_dim == 8 and any(isinstance(m, nn.Dropout) for m in mlp.modules())


def test_setup_gives_a_head_the_features_in_place_of_the_inputs(tmp_path: Path):
    exp = setup(
        compose_config(
            *FAST,
            "model=head",
            "representation=pca",
            "representation.dim=4",
            f"paths.cache_dir={tmp_path}",
        )
    )
    assert exp.split.pool_x.shape == (225, 4) and torch.equal(exp.split.pool_x, exp.features.pool)
    assert torch.equal(exp.split.test_x, exp.features.test) and exp.split.augment is None
    net = exp.learner.posterior.factory.build(0)
    assert net.classifier.in_features == 4 and net(exp.split.test_x).shape == (75, 3)


def test_a_head_refuses_a_run_without_a_representation():
    with pytest.raises(UserError, match="model=head trains on the run's representation"):
        setup(compose_config(*FAST, "model=head"))


# ---------------------------------------------------------------- through the real command


def test_al_run_simclr_is_computed_once_for_two_seeds(tmp_path: Path):
    """Two run seeds of typiclust on a SimCLR representation of digits: the first trains the
    encoder and caches it, the second reads it; both record it."""
    common = [
        *DIGITS_TINY,
        *FEW_EPOCHS,
        "strategy=typiclust",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"paths.results_dir={tmp_path / 'results'}",
    ]
    records = []
    for seed in (0, 1):
        out = run_al("run", *common, f"seed={seed}")
        assert out.returncode == 0, out.stderr
        (info,) = (tmp_path / "results").glob(f"digits/mlp/typiclust-*/seed{seed}/run.json")
        run = run_info(info.parent)
        assert run["status"] == "finished" and run["rounds"] == 3
        records.append(run["representation"])
    assert [r["from_cache"] for r in records] == [False, True]
    assert records[0]["name"] == "simclr" and records[0]["path"] == records[1]["path"]


def test_al_run_trains_a_head_on_simclr(tmp_path: Path):
    out = run_al(
        "run",
        *DIGITS_TINY,
        *FEW_EPOCHS,
        "model=head",
        "strategy=entropy",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert out.returncode == 0, out.stderr
    run = run_info(tmp_path / "run")
    assert run["status"] == "finished" and run["config"]["model"]["name"] == "head"
    assert run["representation"]["name"] == "simclr"


def tiny_images(tmp_path: Path) -> Path:
    """60 random 3x16x16 images of two classes, as an .npz for dataset=npz."""
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(path, x=rng.integers(0, 256, (60, 16, 16, 3), dtype=np.uint8), y=np.arange(60) % 2)
    return path


def test_al_run_torchvision_reads_only_torch_cache(tmp_path: Path, hub: Path):
    """Absent weights: one line naming the file to download, nothing written. With a
    checkpoint in TORCH_HOME (a small network's, randomly initialised), the run selects in its
    features and records them."""
    common = [
        "dataset=npz",
        f"dataset.path={tiny_images(tmp_path)}",
        "budget.initial=4",
        "budget.query_size=4",
        "budget.max_labels=12",
        "trainer.epochs=2",
        "trainer.min_steps=5",
        "device=cpu",
        "representation=torchvision",
        "representation.arch=mobilenet_v3_small",
        "strategy=coreset",
        "strategy.space=representation",
        f"paths.cache_dir={tmp_path / 'cache'}",
    ]
    out = run_al("run", *common, f"hydra.run.dir={tmp_path / 'refused'}")
    one_line_error(out, "representation=torchvision", "mobilenet_v3_small", "download.pytorch.org")
    assert not (tmp_path / "refused").exists() and not (tmp_path / "cache").exists()
    fake_checkpoint(hub, "mobilenet_v3_small", "IMAGENET1K_V1")
    out = run_al("run", *common, f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 0, out.stderr
    run = run_info(tmp_path / "run")
    assert run["status"] == "finished" and run["representation"]["name"] == "torchvision"
    (cached,) = (tmp_path / "cache" / "representations").iterdir()
    with np.load(cached) as arrays:
        assert arrays["pool"].shape == (45, 1024)  # mobilenet_v3_small's penultimate layer
