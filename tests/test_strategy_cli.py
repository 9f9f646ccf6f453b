"""Committee, model-change, error-reduction and core-set strategies through the real ``al``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from al_cli.errors import UserError
from al_cli.setup import setup
from tests.conftest import DIGITS_TINY, FAST, compose_config, read_csv, run_al

FAMILIES = {
    "qbc": ("vote_entropy", "topk"),
    "egl": ("egl", "topk"),
    "badge": ("badge", "kmeans++"),
    "eer": ("eer_log", "topk"),
    "coreset": ("coreset", "k_center_greedy_euclidean"),
    "kmeans": ("kmeans", "nearest_to_centroid"),
}


def test_every_strategy_runs_from_the_cli(tmp_path: Path):
    """One multirun over all of them: one process start instead of six."""
    out = run_al(
        "run", "-m", *FAST, f"strategy={','.join(FAMILIES)}",
        f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=${strategy.name}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    for name, (acquisition, selection) in FAMILIES.items():
        curve = read_csv(tmp_path / name / "learning_curve.csv")
        assert [int(r["n_labeled"]) for r in curve] == [10, 20, 30, 40], name
        assert {(r["strategy"], r["acquisition"], r["selection"]) for r in curve} == {
            (name, acquisition, selection)
        }
        queries = read_csv(tmp_path / name / "queries.csv")
        assert len({q["pool_index"] for q in queries}) == 40
        # every pick records the score it was chosen by; the initial set has none
        assert all(q["score"] == "" for q in queries if q["round"] == "0")
        assert all(q["score"] != "" for q in queries if q["round"] != "0"), name
    radius = [r["coreset_radius"] for r in read_csv(tmp_path / "coreset" / "learning_curve.csv")]
    assert all(float(r) > 0 for r in radius[:-1]) and radius[-1] == ""  # no selection at the end


def test_a_bad_strategy_setting_is_a_one_line_error(tmp_path: Path):
    out = run_al(
        "run", *FAST, "strategy=coreset", "strategy.metric=manhattan", f"hydra.run.dir={tmp_path}"
    )
    assert out.returncode == 2 and "strategy.metric='manhattan' is not known" in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert not (tmp_path / "learning_curve.csv").exists()


@pytest.mark.parametrize(
    ("name", "override", "message"),
    [
        ("eer", "strategy.loss=hinge", "strategy.loss='hinge' is not known"),
        ("eer", "strategy.eval_points=0", "strategy.eval_points=0 must be positive"),
        ("eer", "strategy.l2=0", "strategy.l2=0.0 must be a positive number"),
        ("badge", "strategy.candidates=0", "strategy.candidates=0 must be a positive integer"),
    ],
)
def test_bad_settings_are_refused_before_any_work(name: str, override: str, message: str):
    with pytest.raises(UserError, match=re.escape(message)):
        setup(compose_config(*FAST, f"strategy={name}", override))


LOW_BUDGET = {
    "typiclust": ("typicality", "typiclust_representation", ()),
    "probcover": (
        "probcover",
        "max_coverage_representation",
        ("probcover_coverage", "probcover_delta"),
    ),
    "epig": ("epig", "topk", ()),
}


def test_the_low_budget_strategies_run_on_digits(tmp_path: Path):
    """TypiClust, ProbCover and EPIG through the real command on the default data (digits);
    TypiClust and ProbCover on the whitened PCA their YAMLs pick (the run records it)."""
    out = run_al(
        "run", "-m", *DIGITS_TINY, f"strategy={','.join(LOW_BUDGET)}",
        f"hydra.sweep.dir={tmp_path}", "hydra.sweep.subdir=${strategy.name}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    for name, (acquisition, selection, columns) in LOW_BUDGET.items():
        curve = read_csv(tmp_path / name / "learning_curve.csv")
        assert [int(r["n_labeled"]) for r in curve] == [10, 20, 30], name
        assert {(r["strategy"], r["acquisition"], r["selection"]) for r in curve} == {
            (name, acquisition, selection)
        }
        queries = read_csv(tmp_path / name / "queries.csv")
        assert len({q["pool_index"] for q in queries}) == 30
        used = json.loads((tmp_path / name / "run.json").read_text()).get("representation")
        assert (used or {}).get("name") == (None if name == "epig" else "pca"), name
        assert all(q["score"] != "" for q in queries if q["round"] != "0"), name
        for column in columns:  # a number after each selection, empty in the last round
            assert all(r[column] != "" for r in curve[:-1]) and curve[-1][column] == ""
    # embeddings and delta are the round's own: coverage is a share, not always rising
    curve = read_csv(tmp_path / "probcover" / "learning_curve.csv")
    assert all(0 < float(r["probcover_coverage"]) <= 1 for r in curve[:-1])
    assert all(0 < float(r["probcover_delta"]) <= 2 for r in curve[:-1])
