"""Cold start (``budget.initial=0``): a strategy that needs no trained model picks the first
batch itself, with no label revealed; one that needs a model is refused at set-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from al_cli.data import Pool
from al_cli.errors import UserError
from al_cli.loop import make_context, start
from al_cli.setup import setup
from al_cli.strategies import needs_model
from tests.conftest import FAST, compose_config, one_line_error, read_csv, run_al

COLD = [*FAST, "budget.initial=0", "representation=pca", "representation.dim=5"]
"""Synthetic data (10 inputs a row), a 5-dimensional PCA for the strategies that use one."""

MODEL_FREE = {
    "random": ["strategy=random"],
    "typiclust": ["strategy=typiclust"],
    "probcover": ["strategy=probcover"],
    "coreset": ["strategy=coreset", "strategy.space=representation"],
    "kmeans": ["strategy=kmeans", "strategy.space=representation"],
}


@pytest.mark.parametrize("strategy", list(MODEL_FREE))
def test_round_0_is_the_strategys_pick_with_no_labels(strategy: str, monkeypatch):
    """The strategy sees an empty labeled set (inputs, labels and features), no network has
    been trained, and its picks become round 0's labels and queries, with its scores."""
    exp = setup(compose_config(*COLD, *MODEL_FREE[strategy]))
    seen = []
    select = exp.strategy.select

    def spy(ctx, k):
        seen.append((len(ctx.labeled_x), len(ctx.labeled_y), ctx.labeled_features, k))
        return select(ctx, k)

    def no_fit(*args):
        raise AssertionError("a cold start trained a network before its first batch")

    monkeypatch.setattr(exp.strategy, "select", spy)
    monkeypatch.setattr(exp.learner, "fit", no_fit)
    pool, first_round, queries = start(exp, 0, None, False)
    ((n_x, n_y, features, k),) = seen
    assert (n_x, n_y, k) == (0, 0, 10)
    assert features is not None and tuple(features.shape) == (0, 5)
    assert first_round == 0 and pool.n_labeled == 10 and set(pool.rounds) == {0}
    assert [q["round"] for q in queries] == [0] * 10
    assert [q["pool_index"] for q in queries] == pool.labeled_idx
    assert len(set(pool.labeled_idx)) == 10
    if strategy in ("typiclust", "probcover", "kmeans"):  # they score every pick
        assert all(q["score"] != "" for q in queries)


def test_the_cold_pick_is_seeded_and_drawn_apart_from_round_0s():
    """The same seed picks the same first batch; another seed another; and the pick's
    generators are not round 0's selection generators (purpose ``cold_start``)."""

    def first_batch(seed: int) -> list[int]:
        cfg = compose_config(*COLD, "strategy=random", f"seed={seed}")
        return start(setup(cfg), seed, None, False)[0].labeled_idx

    assert first_batch(0) == first_batch(0) != first_batch(1)
    exp = setup(compose_config(*COLD, "strategy=random"))
    pool = Pool(len(exp.split.pool_x))
    ctx = make_context(exp.learner, exp.split.pool_x, pool, 0, 0)
    cold = make_context(exp.learner, exp.split.pool_x, pool, 0, 0, purpose="cold_start")
    assert ctx.rng.integers(2**62) != cold.rng.integers(2**62)


def test_model_free_means_needing_nothing_but_the_representation():
    free = {name: setup(compose_config(*COLD, *o)).strategy for name, o in MODEL_FREE.items()}
    assert not any(needs_model(s) for s in free.values())
    for overrides in (["strategy=entropy"], ["strategy=coreset"], ["strategy=badge"]):
        exp = setup(compose_config(*FAST, *overrides))
        assert needs_model(exp.strategy)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        (["strategy=entropy"], "predictive samples"),
        (["strategy=coreset"], "penultimate embeddings"),
        (["strategy=kmeans", "strategy.space=embedding"], "penultimate embeddings"),
    ],
    ids=["entropy", "coreset_on_embeddings", "kmeans_on_embeddings"],
)
def test_a_strategy_that_needs_a_model_is_refused(overrides: list[str], named: str):
    with pytest.raises(UserError, match="budget.initial=0") as err:
        setup(compose_config(*COLD, *overrides))
    assert named in str(err.value) and "set budget.initial>0" in str(err.value)


def test_balanced_initial_with_a_cold_start_draws_nothing():
    """``budget.initial_balanced`` has no initial set to balance: accepted, and the same run."""
    exp = setup(compose_config(*COLD, "strategy=random", "budget.initial_balanced=true"))
    assert len(exp.initial) == 0


def test_nothing_to_label_is_refused():
    with pytest.raises(UserError, match="budget.max_labels=0"):
        setup(compose_config(*COLD, "strategy=random", "budget.max_labels=0"))


def test_cold_start_through_the_command_then_plot(tmp_path: Path):
    """On the default digits data: round 0's row is the first, after the strategy's first
    batch (no row at 0 labels); queries.csv round 0 is that batch, scored; al plot reads the
    run beside a run with a random initial set."""
    tiny = ["budget.query_size=10", "budget.max_labels=30", "trainer.epochs=5"]
    tiny += ["trainer.min_steps=20", "device=cpu", f"paths.cache_dir={tmp_path / 'cache'}"]
    cold = tmp_path / "runs" / "cold"
    out = run_al("run", "strategy=typiclust", "budget.initial=0", *tiny, f"hydra.run.dir={cold}")
    assert out.returncode == 0, out.stderr
    curve = read_csv(cold / "learning_curve.csv")
    assert [(r["round"], r["n_labeled"]) for r in curve] == [("0", "10"), ("1", "20"), ("2", "30")]
    assert all(r["test_accuracy"] for r in curve)
    queries = read_csv(cold / "queries.csv")
    assert [q["round"] for q in queries] == ["0"] * 10 + ["1"] * 10 + ["2"] * 10
    assert all(q["score"] for q in queries[:10])
    warm = tmp_path / "runs" / "warm"
    out = run_al("run", "budget.initial=10", *tiny, f"hydra.run.dir={warm}")
    assert out.returncode == 0, out.stderr
    out = run_al("plot", str(tmp_path / "runs"), "--baseline", "none")
    assert out.returncode == 0, out.stderr
    assert "skipped" not in out.stderr + out.stdout


def test_a_model_strategy_with_a_cold_start_is_one_line(tmp_path: Path):
    folder = tmp_path / "run"
    out = run_al("run", *FAST, "budget.initial=0", "strategy=bald", f"hydra.run.dir={folder}")
    one_line_error(out, "budget.initial=0", "strategy=bald", "set budget.initial>0")
    assert not folder.exists()
