"""The Bayesian strategies through the real ``al run``: each config end to end, stochastic
batch selection, and the refusals a user can trigger."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import FAST, read_csv, run_al

BAYESIAN = {
    # strategy: (posterior, posterior_samples, acquisition, selection)
    "mc_dropout": ("mc_dropout", "20", "mean_std", "topk"),
    "bald": ("mc_dropout", "20", "bald", "topk"),
    "variation_ratios": ("mc_dropout", "20", "variation_ratios", "topk"),
    "max_entropy": ("mc_dropout", "20", "max_entropy", "topk"),
    "batchbald": ("mc_dropout", "20", "batchbald", "greedy"),
    "deep_ensemble": ("deep_ensemble", "5", "mean_std", "topk"),
    "bnn": ("bnn", "20", "bald", "topk"),
    "laplace": ("laplace", "20", "bald", "topk"),
}


def test_every_bayesian_strategy_runs_from_the_cli(tmp_path: Path):
    out = run_al(
        "run",
        "-m",
        *FAST,
        "budget.max_labels=20",
        f"strategy={','.join(BAYESIAN)}",
        f"hydra.sweep.dir={tmp_path}",
        "hydra.sweep.subdir=${strategy.name}",
    )
    assert out.returncode == 0, out.stderr
    for name, expected in BAYESIAN.items():
        curve = read_csv(tmp_path / name / "learning_curve.csv")
        assert [int(r["n_labeled"]) for r in curve] == [10, 20], name
        got = {
            (r["posterior"], r["posterior_samples"], r["acquisition"], r["selection"])
            for r in curve
        }
        assert got == {expected}, name
        assert all(0.0 <= float(r["test_accuracy"]) <= 1.0 for r in curve)


def test_power_bald_and_softrank_with_a_candidate_subset(tmp_path: Path):
    out = run_al(
        "run",
        "-m",
        *FAST,
        "strategy=bald",
        "strategy.selection=power,softrank",
        "strategy.candidates=60",
        "hydra.sweep.subdir=${strategy.selection}",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert out.returncode == 0, out.stderr
    queries = {}
    for selection in ("power", "softrank"):
        curve = read_csv(tmp_path / selection / "learning_curve.csv")
        assert {r["selection"] for r in curve} == {selection}
        queries[selection] = [
            q["pool_index"] for q in read_csv(tmp_path / selection / "queries.csv")
        ]
    # same initial set, different batches afterwards
    assert queries["power"][:10] == queries["softrank"][:10]
    assert queries["power"][10:] != queries["softrank"][10:]


def test_a_model_without_dropout_is_refused_in_one_line(tmp_path: Path):
    out = run_al(
        "run", *FAST, "strategy=mc_dropout", "model.dropout=0", f"hydra.run.dir={tmp_path}"
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("al run: error: ") and out.stderr.count("\n") == 1
    assert "model.dropout > 0" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "learning_curve.csv").exists()
