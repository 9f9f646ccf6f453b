"""The numbers behind ``al plot``, unit by unit: grouping runs into experiments, naming lines,
pairing each line with its baseline by seed, and the paired statistics, each checked by hand
and against scipy."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from al_cli.plot.paired import (
    compare_lines,
    differences,
    pair_runs,
    paired_stats,
    signed_rank_p,
    small_n_note,
    t_interval,
    wins_ties_losses,
)
from al_cli.plot.runs import Line, Run, config_id, flat_settings, group_lines, name_lines
from al_cli.plot.summary import (
    cumulative,
    is_time,
    labels_to_reach,
    target_summary,
    totals,
)

GRID = [10.0, 20.0, 30.0]


def config(strategy: str = "random", lr: float = 0.001, **extra) -> dict:
    """A run.json config: the settings, plus keys that never change results."""
    return {
        "seed": 0,
        "paths": {"results_dir": "results"},
        "resume": True,
        "strategy": {"name": strategy, "candidates": None},
        "trainer": {"lr": lr, "hidden": [128]},
        **extra,
    }


def run(
    strategy: str,
    seed: int,
    values: list[float],
    cfg: dict | None = None,
    config_hash: str | None = None,
) -> Run:
    """A run as ``load_runs`` makes it, with its config id worked out the same way."""
    settings = flat_settings(cfg) if cfg is not None else None
    cid = config_hash or (config_id(cfg) if cfg is not None else None)
    return Run(
        path=Path(f"{strategy}/{seed}/learning_curve.csv"),
        identity={"dataset": "digits", "model": "mlp", "strategy": strategy},
        seed=str(seed),
        n_labeled=np.array(GRID[: len(values)]),
        rounds=np.arange(len(values), dtype=float),
        values=np.array(values, dtype=float),
        status="finished",
        config_id=cid,
        settings=settings,
    )


def lines_of(runs: list[Run], warnings: list[str] | None = None, **kw) -> list[Line]:
    sink = [] if warnings is None else warnings
    lines = group_lines(runs, sink.append, **kw)
    name_lines(lines)
    return lines


# ---------------------------------------------------------------- one line per experiment


def test_config_id_is_sha256_of_the_settings_without_seed_and_bookkeeping():
    cfg = config(lr=0.01)
    rest = {"strategy": cfg["strategy"], "trainer": cfg["trainer"]}
    blob = json.dumps(rest, sort_keys=True, separators=(",", ":"))
    assert config_id(cfg) == hashlib.sha256(blob.encode()).hexdigest()[:8]
    noise = {"seed": 7, "hydra": {"x": 1}, "deterministic": True, "threads": 4, "logger": "csv"}
    assert config_id({**cfg, **noise}) == config_id(cfg)
    assert config_id(config(lr=0.001)) != config_id(cfg)
    assert flat_settings(cfg) == {
        "strategy.name": "random",
        "strategy.candidates": "null",
        "trainer.lr": "0.01",
        "trainer.hidden": "[128]",
    }


def test_runs_differing_in_any_setting_are_separate_lines_named_by_it():
    warnings: list[str] = []
    lines = lines_of(
        [
            run("random", 0, [0.5, 0.6, 0.7], config(lr=0.001)),
            run("random", 1, [0.5, 0.7, 0.8], config(lr=0.001)),
            run("random", 0, [0.4, 0.5, 0.6], config(lr=0.01)),
            run("entropy", 0, [0.5, 0.6, 0.9], config("entropy", lr=0.01)),
        ],
        warnings,
    )
    assert {line.label: len(line.runs) for line in lines} == {
        "random (trainer.lr=0.001)": 2,
        "random (trainer.lr=0.01)": 1,
        "entropy": 1,  # the only entropy line: nothing to tell apart
    }
    assert warnings == []


def test_config_hash_wins_over_the_config_and_names_lines_it_alone_tells_apart():
    same = config(lr=0.001)
    lines = lines_of(
        [
            run("random", 0, [0.5, 0.6, 0.7], same, config_hash="aaaa1111"),
            run("random", 1, [0.5, 0.6, 0.7], config(lr=0.5), config_hash="aaaa1111"),
            run("random", 2, [0.5, 0.6, 0.7], same, config_hash="bbbb2222"),
        ]
    )
    labels = sorted(line.label for line in lines)
    # the first line's two runs have other lrs, but one config_hash: one experiment
    assert [len(line.runs) for line in lines] == [2, 1]
    assert labels == ["random (config aaaa1111)", "random (config bbbb2222)"]


def test_without_run_json_the_csv_identity_groups_and_the_label_says_so():
    no_info = run("random", 0, [0.5, 0.6, 0.7])
    also = run("random", 1, [0.5, 0.6, 0.8])
    lines = lines_of([no_info, also, run("random", 0, [0.5, 0.5, 0.5], config())])
    assert sorted((line.label, len(line.runs)) for line in lines) == [
        ("random", 1),
        ("random (no run.json)", 2),
    ]


def test_group_by_merges_other_settings_and_records_them():
    runs = [
        run("random", 0, [0.5, 0.6, 0.7], config(dropout=0.1)),
        run("random", 1, [0.5, 0.6, 0.7], config(dropout=0.5)),
    ]
    (line,) = lines_of(runs, by_config=False)
    assert line.merged_over == ["dropout"] and line.config_id is None
    assert line.label == "random" and len(line.runs) == 2


def test_different_grids_stay_separate_lines():
    warnings: list[str] = []
    lines = lines_of(
        [run("random", 0, [0.5, 0.6, 0.7], config()), run("random", 1, [0.5, 0.6], config())],
        warnings,
    )
    assert sorted(line.label for line in lines) == [
        "random (n_labeled 10-20 by 10)",
        "random (n_labeled 10-30 by 10)",
    ]
    assert len(warnings) == 1 and "different n_labeled grids" in warnings[0]


# ---------------------------------------------------------------- pairing with the baseline


def test_pairing_is_by_seed_not_by_order_and_skips_unpaired_seeds():
    line = lines_of(
        [run("entropy", s, [0.5, 0.6, v], config("entropy")) for s, v in [(0, 0.9), (1, 0.7)]]
        + [run("entropy", 3, [0.5, 0.6, 0.1], config("entropy"))]  # no random seed 3
    )[0]
    base = lines_of([run("random", s, [0.5, 0.6, v], config()) for s, v in [(1, 0.6), (0, 0.8)]])[0]
    comparison = pair_runs(line, base)
    assert comparison.seeds == ["0", "1"]
    # seed 0: 0.9 - 0.8, seed 1: 0.7 - 0.6; pairing by position would give 0.3 and -0.1
    d = differences(comparison.line_values[:, -1], comparison.base_values[:, -1])
    assert d == pytest.approx([0.1, 0.1])


def test_each_line_meets_the_baseline_line_with_its_other_settings():
    runs = [
        run("random", 0, [0.5, 0.6, 0.7], config(lr=0.001)),
        run("random", 0, [0.5, 0.6, 0.7], config(lr=0.01)),
        run("entropy", 0, [0.5, 0.7, 0.8], config("entropy", lr=0.01)),
        run("entropy", 0, [0.5, 0.7, 0.8], config("entropy", lr=0.1)),
        # two random lines whose other settings equal margin's: they differ in strategy.* only
        run(
            "random",
            0,
            [0.5, 0.6, 0.7],
            {**config(lr=0.3), "strategy": {"name": "random", "candidates": 100}},
        ),
        run("random", 0, [0.5, 0.6, 0.7], config(lr=0.3)),
        run("margin", 0, [0.5, 0.7, 0.8], config("margin", lr=0.3)),
    ]
    lines = lines_of(runs)
    comparisons, reasons = compare_lines(lines, "random")
    by_label = {
        line.label: (c.baseline.label if c else None, r)
        for line, c, r in zip(lines, comparisons, reasons, strict=True)
    }
    # the random lines differ in strategy.* too, and every differing setting names them
    expected = "random (strategy.candidates=null, trainer.lr=0.01)"
    assert by_label["entropy (trainer.lr=0.01)"] == (expected, "")
    base, reason = by_label["entropy (trainer.lr=0.1)"]
    assert base is None and reason == "no random line with the same other settings"
    base, reason = by_label["margin"]
    assert base is None and reason.startswith("2 random lines match")
    assert "random (strategy.candidates=100, trainer.lr=0.3)" in reason
    baseline = "random (strategy.candidates=null, trainer.lr=0.001)"
    assert by_label[baseline] == (None, "")  # a baseline line is compared with nothing


def test_a_line_without_a_seed_in_common_is_not_compared():
    lines = lines_of(
        [run("random", 0, [0.5, 0.6, 0.7], config()), run("entropy", 1, [0.5, 0.6, 0.7], config())]
    )
    comparisons, reasons = compare_lines(lines, "random")
    assert comparisons == [None, None]
    assert "no seed in common with random" in reasons[[x.label for x in lines].index("entropy")]


# ---------------------------------------------------------------- the statistics


def test_t_interval_by_hand_and_against_scipy():
    d = np.array([0.02, 0.05, -0.01, 0.04, 0.03, 0.06])
    mean, low, high = t_interval(d)
    # by hand: mean 0.031667, s = 0.025033, t(0.975, 5 df) = 2.570582
    half = 2.570582 * d.std(ddof=1) / math.sqrt(6)
    assert mean == pytest.approx(0.0316666667)
    assert (low, high) == pytest.approx((mean - half, mean + half), rel=1e-6)
    ci = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
    assert (low, high) == pytest.approx((ci.low, ci.high))
    assert t_interval(np.array([0.2]))[0] == 0.2 and math.isnan(t_interval(np.array([0.2]))[1])
    assert all(math.isnan(v) for v in t_interval(np.array([])))


@pytest.mark.parametrize(
    "d, p",
    [
        ([1, 2, 3, 4, 5, 6], 2 / 2**6),  # all positive: only 1 of 64 sign patterns, twice
        ([1, 2, 3, 4, 5], 2 / 2**5),  # 5 pairs can never reach 0.05
        ([1, -2, 3, 4, 5, 6], 2 * 3 / 2**6),  # W- = 2: sign patterns with rank sum <= 2: 3
        ([0, 1, 2, 3, 4, 5, 6], 2 / 2**6),  # a zero difference is dropped
        ([0.0, 0.0, 0.0], 1.0),  # no difference at all
    ],
)
def test_signed_rank_p_exact_by_hand(d, p):
    assert signed_rank_p(np.array(d, dtype=float)) == pytest.approx(p)


def test_signed_rank_p_matches_scipy_and_is_two_sided():
    rng = np.random.default_rng(0)
    for n in (6, 9, 14):
        d = rng.normal(0.01, 0.02, n)
        assert signed_rank_p(d) == pytest.approx(stats.wilcoxon(d).pvalue)
        assert signed_rank_p(-d) == pytest.approx(signed_rank_p(d))
    assert math.isnan(signed_rank_p(np.array([])))


def test_wins_ties_losses_follow_the_metric_direction():
    d = np.array([0.1, 0.0, -0.2, 0.3])
    assert wins_ties_losses(d, lower=False) == (2, 1, 1)
    assert wins_ties_losses(d, lower=True) == (1, 1, 2)
    # equal curves differ by rounding only: a tie, not a win
    assert wins_ties_losses(differences([0.1 + 0.2], [0.3]), lower=False) == (0, 1, 0)


def test_paired_stats_and_the_small_n_note():
    got = paired_stats(np.array([0.1, 0.2, -0.05]), lower=False)
    assert got["diff"] == pytest.approx(0.25 / 3)
    assert (got["wins"], got["ties"], got["losses"]) == (2, 0, 1)
    assert got["p_value"] == pytest.approx(stats.wilcoxon([0.1, 0.2, -0.05]).pvalue)
    assert small_n_note(5) == "n too small: 5 pairs, smallest possible p 0.0625"
    assert small_n_note(6) == "" and small_n_note(0) == ""


# ---------------------------------------------------------------- targets and times


def test_labels_to_target_counts_seeds_that_never_reach_it():
    x = np.array([10, 20, 30])
    values = np.array([[0.5, 0.8, 0.9], [0.5, 0.6, 0.7], [0.7, 0.8, 0.9]])
    needed = labels_to_reach(x, values, 0.8, lower=False)
    assert list(needed) == [20, math.inf, 20]
    got = target_summary(needed)
    assert got == {
        "labels_to_target_median": 20.0,
        "labels_to_target_min": 20.0,
        "labels_to_target_max": math.inf,
        "reached_target": 2,
    }
    # dropping the seed that never reaches it would give a median of 15 here, not > 30
    two_of_four = target_summary(np.array([10.0, 20.0, math.inf, math.inf]))
    assert two_of_four["labels_to_target_median"] == math.inf
    assert two_of_four["reached_target"] == 2


def test_times_are_summed_and_a_missing_value_stays_missing():
    assert is_time("query_seconds") and not is_time("test_accuracy")
    values = np.array([[1.0, 2.0, np.nan], [0.5, 0.5, np.nan]])
    assert list(totals(values)) == [3.0, 1.0]
    got = cumulative(values)
    assert list(got[0, :2]) == [1.0, 3.0] and math.isnan(got[0, 2])
