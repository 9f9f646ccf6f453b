"""Every model: output and embedding shapes on the inputs it is meant for, the parts that
strategies use (``features``, ``embed``, ``classifier``), and clear errors on the wrong inputs.
Also the trainer's augmentation and mixed-precision switches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from al_cli.data.images import CropFlip
from al_cli.errors import UserError
from al_cli.posteriors import network_factory
from al_cli.trainer import train_network
from tests.conftest import compose_config

CASES = [
    ("mlp", (10,), 128),
    ("mlp", (1, 28, 28), 128),
    ("cnn", (1, 28, 28), 128),
    ("cnn", (3, 32, 32), 128),
    ("lenet", (1, 28, 28), 84),
    ("lenet", (3, 32, 32), 84),
    ("resnet18", (3, 32, 32), 512),
    ("resnet18", (1, 28, 28), 512),
    ("head", (32,), 32),  # on a representation of 32 features: linear, its input is its embedding
]


def build(name: str, shape: tuple[int, ...], classes: int = 7, *overrides: str) -> nn.Module:
    cfg = compose_config(f"model={name}", *overrides)
    torch.manual_seed(0)
    return network_factory(cfg.model, cfg.trainer, shape, classes, torch.device("cpu")).build(0)


@pytest.mark.parametrize(("name", "shape", "dim"), CASES, ids=[f"{n}-{s}" for n, s, _ in CASES])
def test_forward_and_embedding_shapes(name: str, shape: tuple[int, ...], dim: int):
    net = build(name, shape).eval()
    x = torch.randn(5, *shape)
    with torch.no_grad():
        logits, emb = net(x), net.embed(x)
    assert logits.shape == (5, 7) and emb.shape == (5, dim) and net.embedding_dim == dim
    assert isinstance(net.classifier, nn.Linear) and net.classifier.in_features == dim
    torch.testing.assert_close(net.classifier(emb), logits)  # classifier is the last layer


def test_resnet18_stems():
    cifar = build("resnet18", (3, 32, 32))
    assert cifar.features[0].kernel_size == (3, 3) and cifar.features[0].stride == (1, 1)
    assert isinstance(cifar.features[3], nn.Identity)  # no max-pool
    imagenet = build("resnet18", (3, 64, 64), 7, "model.stem=imagenet")
    assert imagenet.features[0].kernel_size == (7, 7)
    assert isinstance(imagenet.features[3], nn.MaxPool2d)
    with torch.no_grad():
        assert imagenet(torch.randn(2, 3, 64, 64)).shape == (2, 7)
    # 32x32 keeps a 4x4 map before pooling with the CIFAR stem, 1x1 with ImageNet's
    body = nn.Sequential(*list(cifar.features)[:8]).eval()
    with torch.no_grad():
        assert body(torch.randn(1, 3, 32, 32)).shape == (1, 512, 4, 4)
    dropout = build("resnet18", (3, 32, 32), 7, "model.dropout=0.3")
    assert isinstance(dropout.features[-1], nn.Dropout)


def test_resnet18_pretrained_weights_from_torch_cache(tmp_path: Path, monkeypatch):
    """With the ImageNet checkpoint in torch's cache, its weights are loaded (not re-drawn);
    without it and offline, a clear error names the file and the way out."""
    from torchvision.models import ResNet18_Weights, resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.manual_seed(123)
    reference = resnet18().state_dict()
    torch.save(reference, checkpoints / Path(ResNet18_Weights.IMAGENET1K_V1.url).name)
    net = build("resnet18", (3, 32, 32), 7, "model.pretrained=true")
    assert torch.equal(net.features[4][0].conv1.weight, reference["layer1.0.conv1.weight"])
    assert not torch.equal(
        net.features[0].weight[:, :, :3, :3], reference["conv1.weight"][:, :, :3, :3]
    )
    kept = build("resnet18", (3, 64, 64), 7, "model.pretrained=true", "model.stem=imagenet")
    assert torch.equal(kept.features[0].weight, reference["conv1.weight"])
    fresh = build("resnet18", (3, 32, 32), 7)
    assert not torch.equal(fresh.features[4][0].conv1.weight, reference["layer1.0.conv1.weight"])


@pytest.mark.parametrize(
    ("name", "shape", "overrides", "expect"),
    [
        ("cnn", (10,), [], "image inputs"),
        ("lenet", (10,), [], "image inputs"),
        ("resnet18", (10,), [], "image inputs"),
        ("lenet", (1, 8, 8), [], "at least 12x12"),
        ("cnn", (1, 6, 6), [], "kernel_size"),
        ("resnet18", (3, 32, 32), ["model.stem=huge"], "model.stem"),
        ("lenet", (1, 28, 28), ["model.hidden=[]"], "model.hidden"),
    ],
)
def test_wrong_inputs_are_config_errors(name, shape, overrides, expect):
    with pytest.raises(UserError, match=expect):
        build(name, shape, 7, *overrides)


def test_builds_are_seeded():
    cfg = compose_config("model=lenet")
    factory = network_factory(cfg.model, cfg.trainer, (1, 28, 28), 10, torch.device("cpu"))
    a, b, c = factory.build(1), factory.build(1), factory.build(2)
    assert torch.equal(a.classifier.weight, b.classifier.weight)
    assert not torch.equal(a.classifier.weight, c.classifier.weight)


def train(augment=None, *overrides: str, seed: int = 0) -> nn.Module:
    cfg = compose_config("model=lenet", "trainer.epochs=1", "trainer.min_steps=3", *overrides)
    factory = network_factory(cfg.model, cfg.trainer, (3, 16, 16), 3, torch.device("cpu"), augment)
    net = factory.build(0)
    x = torch.randn(12, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    factory.train(net, x, torch.arange(12) % 3, seed)
    return net


def test_training_augmentation_is_applied_and_seeded():
    seen = []

    def spy(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        seen.append(x.shape)
        return CropFlip(pad=4, flip=True, fill=(0.0, 0.0, 0.0))(x, gen)

    plain, aug, aug2 = train(), train(spy), train(spy)
    assert seen == [(12, 3, 16, 16)] * 6  # every training batch, nothing else
    w = [n.classifier.weight for n in (plain, aug, aug2)]
    assert torch.equal(w[1], w[2]) and not torch.equal(w[0], w[1])
    other = train(spy, seed=1)
    assert not torch.equal(other.classifier.weight, w[1])


def test_amp_changes_nothing_off_cuda():
    """``trainer.amp`` is a CUDA option; on the CPU training is bit-for-bit the same."""
    a, b = train(), train(None, "trainer.amp=true")
    assert torch.equal(a.classifier.weight, b.classifier.weight)


def test_train_network_keeps_the_extra_loss_argument():
    cfg = compose_config("model=lenet", "trainer.epochs=1", "trainer.min_steps=2")
    net = network_factory(cfg.model, cfg.trainer, (3, 16, 16), 3, torch.device("cpu")).build(0)
    calls = []

    def extra(model: nn.Module, n: int) -> torch.Tensor:
        calls.append(n)
        return model.classifier.weight.pow(2).sum() * 0.0

    train_network(net, torch.randn(6, 3, 16, 16), torch.arange(6) % 3, cfg.trainer, 0, extra)
    assert calls == [6, 6]


def test_l2_per_label_is_keras_l2_over_n_on_the_hidden_dense_weights():
    """``trainer.l2_per_label=c`` adds (c / n) * sum(w**2) on the hidden Linear weights only:
    one SGD step with it equals one step on the loss with that term added by hand."""
    from al_cli.models.cnn import GalCNN
    from al_cli.trainer import hidden_weights, make_optimizer

    cfg = compose_config("model=cnn", "trainer.optimizer=sgd", "trainer.momentum=0").trainer
    cfg.l2_per_label, cfg.lr, n = 3.5, 0.1, 20
    torch.manual_seed(0)
    a = GalCNN((1, 28, 28), 10)
    b = GalCNN((1, 28, 28), 10)
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()  # no dropout: both steps see the same network
    (w,) = hidden_weights(a)
    assert w is a.features[7].weight  # the dense 128 layer; not the convolutions, not biases
    x, y = torch.rand(n, 1, 28, 28), torch.arange(n) % 10
    opt = make_optimizer(a, cfg, n)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(a(x), y).backward()
    opt.step()
    cfg.l2_per_label = 0.0
    opt = make_optimizer(b, cfg, n)
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(b(x), y) + 3.5 / n * b.features[7].weight.pow(2).sum()
    loss.backward()
    opt.step()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)
    assert not torch.equal(a.features[7].weight, GalCNN((1, 28, 28), 10).features[7].weight)


def test_l2_scope_all_decays_every_parameter_by_2c_over_n():
    """``trainer.l2_scope=all``: every parameter, biases and convolutions too, gets coupled
    weight decay 2c/n (c=1.25: torch's weight_decay=2.5/n on everything); ``hidden`` only the
    dense hidden weights; a scope that is not known is refused."""
    from al_cli.models.cnn import GalCNN
    from al_cli.trainer import check_trainer, make_optimizer

    cfg = compose_config("model=cnn").trainer
    cfg.l2_per_label, n = 1.25, 20
    net = GalCNN((1, 28, 28), 10)
    cfg.l2_scope = "all"
    (group,) = make_optimizer(net, cfg, n).param_groups
    assert group["weight_decay"] == pytest.approx(2.5 / n)
    assert len(group["params"]) == len(list(net.parameters()))
    cfg.l2_scope = "hidden"
    decays = {len(g["params"]): g["weight_decay"] for g in make_optimizer(net, cfg, n).param_groups}
    assert decays == {len(list(net.parameters())) - 1: 0.0, 1: pytest.approx(2.5 / n)}
    cfg.l2_scope = "everything"
    with pytest.raises(UserError, match="trainer.l2_scope='everything' is not known"):
        check_trainer(cfg)


def test_training_reports_its_steps_and_final_epoch_loss():
    """What the learning curve's ``train_steps`` and ``train_loss`` come from: the steps run
    (``max(epochs * ceil(n / batch), min_steps)``, whole epochs) and the mean cross-entropy of
    the last epoch's examples, which falls as a network fits its labels."""
    cfg = compose_config("trainer.batch_size=8", "trainer.epochs=2", "trainer.min_steps=0").trainer
    torch.manual_seed(0)
    x, y = torch.randn(20, 10), torch.arange(20) % 2
    net = network_factory(compose_config().model, cfg, (10,), 2, torch.device("cpu")).build(0)
    short = train_network(net, x, y, cfg, 0)
    assert short.steps == 2 * 3
    cfg.min_steps = 100
    long = train_network(net, x, y, cfg, 0)
    assert long.steps == 34 * 3  # whole epochs: ceil(100 / 3) of them
    assert 0 < long.loss < short.loss


def test_last_batch_drop_steps_only_on_full_batches():
    """``trainer.last_batch=drop``: with 20 labels and batch 8 every step sees 8 examples (two
    per epoch, a different 4 left out each epoch, so all are seen); ``keep`` ends every epoch
    on a batch of 4, as Keras's fit did; a value that is not known is refused."""
    from al_cli.trainer import check_trainer

    cfg = compose_config("trainer.batch_size=8", "trainer.epochs=3", "trainer.min_steps=0").trainer
    x, y = torch.randn(20, 10), torch.arange(20) % 2
    net = network_factory(compose_config().model, cfg, (10,), 2, torch.device("cpu")).build(0)
    seen: list[torch.Tensor] = []
    net.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    assert train_network(net, x, y, cfg, 0).steps == 3 * 3
    assert [len(b) for b in seen] == [8, 8, 4] * 3
    seen.clear()
    cfg.last_batch, cfg.min_steps = "drop", 10
    assert train_network(net, x, y, cfg, 0).steps == 5 * 2  # whole epochs: ceil(10 / 2)
    assert [len(b) for b in seen] == [8] * 10
    rows = {tuple(r.tolist()) for b in seen for r in b}
    assert rows == {tuple(r.tolist()) for r in x}
    cfg.last_batch = "last"
    with pytest.raises(UserError, match="trainer.last_batch='last' is not known"):
        check_trainer(cfg)


def test_sampling_with_replacement_draws_every_step_anew():
    """``trainer.sampling=replacement``: ``max(epochs * ceil(n / batch), min_steps)`` steps,
    not rounded up to whole epochs, each of ``batch`` rows drawn with replacement (20 labels,
    batch 8: some rows twice in a step); ``epochs`` never repeats a row within an epoch."""
    from al_cli.trainer import check_trainer

    cfg = compose_config("trainer.batch_size=8", "trainer.epochs=2", "trainer.min_steps=0").trainer
    cfg.sampling = "replacement"
    x, y = torch.arange(20.0)[:, None].repeat(1, 10), torch.arange(20) % 2
    net = network_factory(compose_config().model, cfg, (10,), 2, torch.device("cpu")).build(0)
    seen: list[torch.Tensor] = []
    net.register_forward_pre_hook(lambda _, args: seen.append(args[0][:, 0].long()))
    assert train_network(net, x, y, cfg, 0).steps == 2 * 3
    assert [len(b) for b in seen] == [8] * 6
    assert any(len(b.unique()) < len(b) for b in seen)
    seen.clear()
    cfg.min_steps = 10
    assert train_network(net, x, y, cfg, 0).steps == 10  # not rounded up to 12
    assert len(seen) == 10
    seen.clear()
    cfg.sampling, cfg.min_steps = "epochs", 0
    train_network(net, x, y, cfg, 0)
    assert all(len(b.unique()) == len(b) for b in seen)
    assert sorted(torch.cat(seen[:3]).tolist()) == list(range(20))
    cfg.sampling = "bootstrap"
    with pytest.raises(UserError, match="trainer.sampling='bootstrap' is not known"):
        check_trainer(cfg)


def test_glorot_init_is_keras_glorot_uniform_with_zero_biases():
    from al_cli.models.cnn import GalCNN

    torch.manual_seed(0)
    net = GalCNN((1, 28, 28), 10, init="glorot")
    dense = net.features[7]
    bound = (6 / (dense.in_features + dense.out_features)) ** 0.5
    assert dense.weight.abs().max() <= bound and dense.weight.abs().max() > 0.9 * bound
    assert all(
        float(m.bias.detach().abs().sum()) == 0 for m in (net.features[0], dense, net.classifier)
    )
    torch.manual_seed(0)
    default = GalCNN((1, 28, 28), 10)
    assert float(default.classifier.bias.detach().abs().sum()) > 0
    with pytest.raises(UserError, match="model.init='he' is not known"):
        GalCNN((1, 28, 28), 10, init="he")


def test_trainer_settings_are_the_schemas_keys_and_a_key_without_value_is_one_line():
    """TrainerSettings holds exactly the trainer schema's keys (a key added to one and not the
    other fails here), and a trainer option that leaves one unset is refused naming it."""
    from dataclasses import fields

    from omegaconf import OmegaConf

    from al_cli.config import TrainerConfig
    from al_cli.trainer import TrainerSettings, check_trainer

    assert [f.name for f in fields(TrainerSettings)] == [f.name for f in fields(TrainerConfig)]
    settings = check_trainer(compose_config().trainer)
    assert isinstance(settings, TrainerSettings) and settings.min_steps == 1000
    partial = OmegaConf.structured(TrainerConfig)
    for f in fields(TrainerConfig):
        if f.name != "amp":
            partial[f.name] = getattr(settings, f.name)
    with pytest.raises(UserError, match=r"no value for amp; set trainer.amp"):
        check_trainer(partial)


def test_every_model_option_is_in_the_shape_cases():
    """A new model YAML is checked by test_forward_and_embedding_shapes once it has a row in
    CASES: one without fails here, asking for it."""
    from importlib import resources

    folder = resources.files("al_cli.configs").joinpath("model")
    options = {p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")}
    assert options - {name for name, _, _ in CASES} == set(), "add the model to CASES"
