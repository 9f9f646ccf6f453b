"""The validation split (``dataset.val_size``): held out of the pool once per data seed,
stratified, never queried; scored each round; paid from the budget or not
(``budget.count_validation``); the best epoch kept where the trainer asks
(``trainer.select_on_val``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from al_cli.data import load_dataset
from al_cli.data.validation import class_quotas, hold_out, stratified_draw
from al_cli.errors import UserError
from al_cli.loop import start
from al_cli.posteriors import network_factory
from al_cli.setup import setup
from al_cli.trainer import check_trainer, train_network
from tests.conftest import FAST, compose_config, read_csv, run_al

VAL = [*FAST, "dataset.val_size=30"]


def rows(x: torch.Tensor) -> set[tuple[float, ...]]:
    return {tuple(r) for r in x.flatten(1).tolist()}


def test_class_quotas_are_proportional_and_sum_to_n():
    rng = np.random.default_rng(0)
    assert class_quotas(np.array([50, 30, 20]), 10, rng).tolist() == [5, 3, 2]
    # 7 of [5, 3, 2]: exact shares 3.5, 2.1, 1.4 -> floors 3, 2, 1 and one more to the 0.5
    assert class_quotas(np.array([5, 3, 2]), 7, rng).tolist() == [4, 2, 1]
    for n in range(11):
        quotas = class_quotas(np.array([5, 3, 2]), n, rng)
        assert quotas.sum() == n and (quotas <= [5, 3, 2]).all()
        assert np.all(np.abs(quotas - n * np.array([5, 3, 2]) / 10) < 1)


def test_stratified_draw_is_distinct_and_stratified():
    labels = np.repeat([0, 1, 2], [60, 30, 10])
    drawn = stratified_draw(labels, 20, np.random.default_rng(3))
    assert len(np.unique(drawn)) == 20
    assert np.bincount(labels[drawn]).tolist() == [12, 6, 2]


def test_the_validation_set_leaves_the_pool_and_never_meets_the_test_set():
    """Held-out inputs are gone from the pool (no strategy can pick them, the oracle holds
    none of their labels), are pool inputs (not test inputs), and are stratified."""
    cfg = compose_config(*VAL)
    full = load_dataset(cfg.dataset)
    exp = setup(cfg)
    split = exp.split
    assert len(split.val_x) == len(split.val_y) == 30
    assert len(split.pool_x) == len(full.pool_x) - 30 == len(exp.oracle)
    assert not rows(split.val_x) & rows(split.pool_x)
    assert rows(split.val_x) <= rows(full.pool_x)
    assert not rows(split.val_x) & rows(split.test_x)
    assert rows(split.val_x) | rows(split.pool_x) == rows(full.pool_x)
    share = np.bincount(full.pool_y.numpy()) * 30 / len(full.pool_y)
    assert np.all(np.abs(np.bincount(split.val_y.numpy(), minlength=len(share)) - share) < 1)
    pool, _, _ = start(exp, 0, None, False)
    assert set(pool.unlabeled_indices()) | set(pool.labeled_idx) == set(range(len(split.pool_x)))


def test_the_same_validation_set_for_every_strategy_and_run_seed():
    """Drawn from the data's split seed: the same inputs for every strategy and seed of a
    data split; another split seed draws another."""

    def val(*overrides: str) -> set:
        return rows(setup(compose_config(*VAL, *overrides)).split.val_x)

    same = val("strategy=random", "seed=0")
    assert val("strategy=entropy", "seed=0") == same == val("strategy=margin", "seed=3")
    assert val("dataset.split_seed=1") != same


def test_the_representation_keeps_its_pool_rows():
    """A representation is computed on the whole pool; the rows of the inputs held out are
    dropped with them, so features stay aligned with the pool."""
    cfg = compose_config(*VAL, "representation=pca", "representation.dim=5")
    exp = setup(cfg)
    whole = setup(compose_config(*FAST, "representation=pca", "representation.dim=5"))
    _, keep = hold_out(whole.split, 30, np.random.default_rng(0))  # any draw: row alignment
    assert len(exp.features.pool) == len(exp.split.pool_x)
    full = load_dataset(cfg.dataset)
    position = {r: i for i, r in enumerate(tuple(x) for x in full.pool_x.tolist())}
    kept = [position[tuple(x)] for x in exp.split.pool_x.tolist()]
    assert torch.equal(exp.features.pool, whole.features.pool[kept])
    assert len(keep) == len(full.pool_x) - 30


def test_curve_columns_and_budget_counting():
    """Each row scores the validation set; with budget.count_validation its labels count
    against max_labels and in n_labeled, otherwise they are free."""
    from al_cli.loop import one_round

    free = setup(compose_config(*VAL))
    paid = setup(compose_config(*VAL, "budget.count_validation=true", "budget.max_labels=70"))
    assert (free.budget.validation, paid.budget.validation) == (0, 30)
    for exp, n_labeled in ((free, 10), (paid, 40)):
        pool, _, _ = start(exp, 0, None, False)
        row, chosen = one_round(exp, 0, pool, 0)
        assert row["n_labeled"] == n_labeled and len(chosen.positions) == 10
        assert 0 <= row["val_accuracy"] <= 1 and row["val_nll"] > 0
    # 70 labels with 30 paid for validation: 40 from the pool, 4 rounds
    assert paid.budget.rounds_left(10) == 3 and free.budget.rounds_left(10) == 3
    assert paid.budget.batch(40, 100) == 0 and free.budget.batch(40, 100) == 0
    assert setup(compose_config(*FAST)).split.val_x is None


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["dataset.val_size=-1"], "dataset.val_size=-1 must be 0"),
        (["dataset.val_size=200"], "dataset.val_size=200 leaves 25"),
        (["trainer.select_on_val=true"], "trainer.select_on_val=true needs a validation set"),
        (["dataset.val_size=10", "trainer.val_every=0"], "trainer.val_every=0"),
        (
            ["dataset.val_size=35", "budget.count_validation=true"],
            "budget.max_labels=40 leaves 5 labels",
        ),
    ],
    ids=["negative", "above_pool", "select_without_set", "val_every_0", "budget_spent"],
)
def test_refusals(overrides: list[str], named: str):
    with pytest.raises(UserError, match=named):
        setup(compose_config(*FAST, *overrides))


def test_select_on_val_keeps_the_epoch_of_best_validation_accuracy():
    """Validation labels that disagree with the training labels make later epochs worse on
    it: the network kept is the one trained for the best epoch's number of epochs, exactly
    (the checks draw nothing at random, so training follows the same path), and the first
    of equally good epochs."""
    cfg = compose_config(*FAST, "trainer.epochs=8", "trainer.min_steps=0", "trainer.lr=0.05")
    cfg.trainer.batch_size = 16
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(48, 10, generator=gen)
    y = (x[:, 0] > 0).long()
    x_val = torch.randn(40, 10, generator=gen)
    y_val = (x_val[:, 0] <= 0).long()  # the opposite rule: fitting the labels hurts here
    factory = network_factory(cfg.model, cfg.trainer, (10,), 2, torch.device("cpu"))

    def trained(epochs: int, select: bool, every: int = 1) -> torch.nn.Module:
        cfg.trainer.epochs, cfg.trainer.select_on_val, cfg.trainer.val_every = epochs, select, every
        net = factory.build(0)
        train_network(net, x, y, check_trainer(cfg.trainer), 7, validation=(x_val, y_val))
        return net

    def val_accuracy(net: torch.nn.Module) -> float:
        with torch.no_grad():
            return float((net(x_val).argmax(1) == y_val).double().mean())

    def params(net: torch.nn.Module) -> list[torch.Tensor]:
        return [p.detach().clone() for p in net.state_dict().values()]

    accuracies = [val_accuracy(trained(e, False)) for e in range(1, 9)]
    assert accuracies[-1] < max(accuracies), accuracies  # the case needs a better early epoch
    for every, checked in ((1, range(1, 9)), (3, (3, 6, 8))):
        best = max(checked, key=lambda e: (accuracies[e - 1], -e))
        kept = params(trained(8, True, every))
        assert all(
            torch.equal(a, b) for a, b in zip(kept, params(trained(best, False)), strict=True)
        )
    last = params(trained(8, False))
    assert any(not torch.equal(a, b) for a, b in zip(params(trained(8, True)), last, strict=True))


def test_validation_through_the_command_then_plot(tmp_path: Path):
    """On the default digits data: the curve gains val_accuracy and val_nll, queries never
    reach past the pool that is left, and al plot reads it beside a curve without them (by
    test accuracy) and alone by --metric val_accuracy."""
    tiny = ["budget.query_size=10", "budget.max_labels=40", "trainer.epochs=5"]
    tiny += ["trainer.min_steps=20", "device=cpu"]
    folder = tmp_path / "runs" / "val"
    out = run_al(
        "run", "dataset.val_size=50", "trainer.select_on_val=true", "trainer.val_every=2",
        *tiny, f"hydra.run.dir={folder}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    curve = read_csv(folder / "learning_curve.csv")
    assert list(curve[0])[-2:] == ["val_accuracy", "val_nll"]
    assert [int(r["n_labeled"]) for r in curve] == [20, 30, 40]
    assert all(0 <= float(r["val_accuracy"]) <= 1 and float(r["val_nll"]) > 0 for r in curve)
    pool_size = 1347 - 50  # digits' pool less the validation set
    assert max(int(q["pool_index"]) for q in read_csv(folder / "queries.csv")) < pool_size
    out = run_al("run", *tiny, f"hydra.run.dir={tmp_path / 'runs' / 'plain'}")
    assert out.returncode == 0, out.stderr
    out = run_al("plot", str(tmp_path / "runs"), "--baseline", "none")
    assert out.returncode == 0, out.stderr
    assert "skipped" not in out.stderr + out.stdout
    out = run_al("plot", str(folder), "--metric", "val_accuracy", "--baseline", "none")
    assert out.returncode == 0, out.stderr
