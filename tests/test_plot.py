"""``al plot``: from learning curves in the documented schema to figures and a summary table.

Curves are written by the tests (``write_run``) with hand-picked values, so every number in
the summary is checked against a value computed by hand. Real ``al run`` sweeps check the two
promises of issue 10 end to end: a learning-rate sweep is two lines, and a 6-seed
random/entropy sweep gets paired statistics equal to scipy's on its own CSVs. The statistics
themselves are tested unit by unit in test_plot_stats.py.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from al_cli.plot.figures import (
    FIXED_COLOURS,
    PALETTE,
    draw,
    draw_differences,
    line_styles,
    strategy_colour,
)
from al_cli.plot.outputs import interrupt_held_off, publish, staged
from al_cli.plot.paired import compare_lines
from al_cli.plot.runs import Run, group_lines, name_lines
from al_cli.plot.summary import (
    band_halfwidth,
    labels_to_reach,
    lower_is_better,
    normalized_auc,
)
from al_cli.results import CURVE_COLUMNS, csv_text
from tests.conftest import FAST, one_line_error, read_csv, run_al, start_al, wait_for

GRID = [10, 20, 30, 40]
CURVES = {
    "entropy": [[0.5, 0.6, 0.7, 0.8], [0.5, 0.7, 0.8, 0.9], [0.4, 0.6, 0.7, 0.7]],
    "random": [[0.5, 0.55, 0.6, 0.65], [0.5, 0.6, 0.65, 0.7], [0.45, 0.5, 0.6, 0.68]],
    "margin": [[0.6, 0.8, 0.9, 0.95], [0.6, 0.7, 0.9, 0.95]],
}
"""Test accuracy per strategy and seed; test_nll is written as 1 - accuracy."""


def write_run(
    folder: Path,
    strategy: str,
    seed: int,
    accuracy: list[float],
    n_labeled: list[int] = GRID,
    status: str | None = "finished",
    lr: float = 0.001,
    dataset: str = "synthetic",
    query_seconds: list[float] | None = None,
) -> Path:
    """A run folder as ``al run`` leaves it: learning_curve.csv in the schema, and run.json."""
    rows = [
        {
            "dataset": dataset,
            "model": "mlp",
            "strategy": strategy,
            "posterior": "deterministic",
            "posterior_samples": 1,
            "acquisition": strategy,
            "selection": "random" if strategy == "random" else "topk",
            "seed": seed,
            "round": i,
            "n_labeled": n,
            "test_accuracy": a,
            "test_nll": round(1 - a, 6),
            "test_ece": 0.05,
            "train_seconds": 0.1,
            "query_seconds": query_seconds[i] if query_seconds else 0.01,
            "eval_seconds": 0.01,
        }
        for i, (n, a) in enumerate(zip(n_labeled, accuracy, strict=True))
    ]
    folder.mkdir(parents=True)
    (folder / "learning_curve.csv").write_text(csv_text(rows, CURVE_COLUMNS))
    if status is not None:
        config = {"seed": seed, "strategy": {"name": strategy}, "trainer": {"lr": lr}}
        (folder / "run.json").write_text(json.dumps({"status": status, "config": config}))
    return folder / "learning_curve.csv"


def write_results(root: Path) -> None:
    """Two layouts side by side: single runs and a multirun, at different depths. The random
    runs' folders sort in the reverse order of their seeds, so pairing by position is wrong."""
    for strategy, curves in CURVES.items():
        for seed, accuracy in enumerate(curves):
            if strategy == "margin":
                folder = root / "single" / f"run-{seed}"
            else:
                name = f"s{2 - seed}" if strategy == "random" else f"s{seed}"
                folder = root / "multirun" / "2026-01-01" / strategy / name / "x"
            write_run(folder, strategy, seed, accuracy)


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def summary_rows(path: Path) -> dict[str, dict[str, str]]:
    return {r["label"]: r for r in read_csv(path)}


# ---------------------------------------------------------------- numbers, by hand


def test_normalized_auc_by_hand():
    x = np.array([10, 20, 40])
    # (0.5+0.7)/2*10 + (0.7+0.8)/2*20 = 6 + 15 = 21 over a range of 30
    assert normalized_auc(x, np.array([0.5, 0.7, 0.8])) == pytest.approx([0.7])
    assert normalized_auc(x, np.full((2, 3), 0.9)) == pytest.approx([0.9, 0.9])
    assert normalized_auc(np.array([10]), np.array([[0.4]])) == pytest.approx([0.4])


def test_labels_to_reach_counts_equality_and_direction():
    x = np.array([10, 20, 30])
    up = np.array([[0.5, 0.7, 0.8], [0.5, 0.6, 0.65]])
    assert list(labels_to_reach(x, up, 0.7, lower=False)) == [20, math.inf]
    down = np.array([[1.0, 0.6, 0.4], [0.9, 0.8, 0.7]])
    assert list(labels_to_reach(x, down, 0.6, lower=True)) == [20, math.inf]


def test_bands():
    values = np.array([[1.0, 2.0], [2.0, 2.0], [3.0, 5.0]])
    std = np.array([1.0, math.sqrt(3.0)])
    assert band_halfwidth(values, "std") == pytest.approx(std)
    assert band_halfwidth(values, "sem") == pytest.approx(std / math.sqrt(3))
    # Student's t, 2 degrees of freedom: 4.302653
    assert band_halfwidth(values, "ci95") == pytest.approx(4.302653 * std / math.sqrt(3))
    assert band_halfwidth(values, "none") is None
    assert band_halfwidth(values[:1], "sem") is None


def test_lower_is_better():
    assert lower_is_better("test_nll") and lower_is_better("test_ece")
    assert lower_is_better("train_seconds")
    assert not lower_is_better("test_accuracy")


# ---------------------------------------------------------------- colours and figures


def make_run(strategy: str, seed: int, values: list[float], **identity: str) -> Run:
    return Run(
        path=Path(f"{strategy}/{seed}/learning_curve.csv"),
        identity={"dataset": "digits", "model": "mlp", "strategy": strategy, **identity},
        seed=str(seed),
        n_labeled=np.array(GRID[: len(values)], dtype=float),
        rounds=np.arange(len(values), dtype=float),
        values=np.array(values),
        status="finished",
    )


def test_colours_are_fixed_per_strategy_and_stable_for_new_names():
    assert strategy_colour("random") == "#000000"
    assert len(set(FIXED_COLOURS.values())) == len(FIXED_COLOURS)
    for name in ("entropy", "margin", "mc_dropout", "bald", "coreset"):
        assert strategy_colour(name) == FIXED_COLOURS[name]
    names = [f"strategy_{i}" for i in range(40)]
    colours = [strategy_colour(n) for n in names]
    assert set(colours) <= set(PALETTE) and len(set(colours)) > 3
    # stable in a fresh interpreter (a salted hash() would not be)
    code = "from al_cli.plot.figures import strategy_colour as c; print(c('strategy_7'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == colours[7]


def test_random_dashed_and_shared_colours_get_markers():
    lines = group_lines(
        [
            make_run("entropy", 0, [0.5, 0.6]),
            make_run("random", 0, [0.5, 0.55]),
            make_run("entropy", 0, [0.5, 0.7], posterior="deep_ensemble"),
        ],
        warn=lambda m: None,
    )
    styles = line_styles(lines)
    assert [s["linestyle"] for s in styles] == ["-", "--", "-"]
    assert styles[0]["color"] == styles[2]["color"] == FIXED_COLOURS["entropy"]
    assert "marker" not in styles[0] and "marker" not in styles[1] and styles[2]["marker"]


def test_draw_labels_axes_marks_the_target_and_uses_round_for_x():
    runs = [make_run("entropy", s, [0.5, 0.6 + s / 10, 0.7]) for s in range(3)]
    runs.append(make_run("random", 0, [0.4, 0.5, 0.6]))
    lines = group_lines(runs, warn=lambda m: None)
    name_lines(lines)
    fig = draw(lines, "test_accuracy", "round", "sem", 0.65, dpi=50)
    ax = fig.axes[0]
    assert "digits" in ax.get_title() and "mlp" in ax.get_title()
    assert ax.get_xlabel().startswith("round") and "accuracy" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "entropy (3 seeds)",
        "random (1 seed, 1/1 never reach 0.65)",
        "target 0.65 (●: median seed reaches it, ▶: some seeds never do)",
    ]
    curves = {line.get_label(): line for line in ax.lines}
    assert list(curves[labels[0]].get_xdata()) == [0, 1, 2]
    assert list(curves[labels[0]].get_ydata()) == pytest.approx([0.5, 0.7, 0.7])
    # entropy's seeds reach 0.65 at rounds 2, 1, 1: a dot at the median; random never: a ">"
    marks = [(m.get_marker(), list(m.get_xdata())) for m in ax.lines if m.get_marker() in "o>"]
    assert ("o", [1.0]) in marks and (">", [2.0]) in marks
    assert len(ax.collections) == 1  # a band for 3 seeds, none for a single seed


def test_draw_a_time_metric_sums_and_leaves_out_the_empty_last_query():
    runs = [make_run("entropy", s, [1.0, 2.0 + s, np.nan]) for s in range(2)]
    (line,) = group_lines(runs, warn=lambda m: None)
    name_lines([line])
    fig = draw([line], "query_seconds", "n_labeled", "none", None, dpi=50)
    per_round, total = fig.axes
    assert "per round" in per_round.get_title() and "cumulative" in total.get_title()
    y = per_round.lines[0].get_ydata()
    assert list(y[:2]) == [1.0, 2.5] and math.isnan(y[2])  # not drawn, not drawn as 0
    y = total.lines[0].get_ydata()
    assert list(y[:2]) == [1.0, 3.5] and math.isnan(y[2])
    assert "so far" in total.get_ylabel()


def test_draw_differences_shows_the_mean_paired_difference():
    runs = [make_run("random", s, [0.5, 0.5 + s / 10, 0.6]) for s in (0, 1)]
    runs += [make_run("entropy", s, [0.5, 0.7, 0.9 - s / 10]) for s in (1, 0)]
    lines = group_lines(runs, warn=lambda m: None)
    name_lines(lines)
    comparisons, _ = compare_lines(lines, "random")
    (i,) = [k for k, c in enumerate(comparisons) if c is not None]
    fig = draw_differences(
        [lines[i]], [comparisons[i]], "random", "test_accuracy", "n_labeled", "sem", 50
    )
    ax = fig.axes[0]
    entropy = [line for line in ax.lines if line.get_label().startswith("entropy")][0]
    # seed 0: (0, 0.2, 0.3), seed 1: (0, 0.1, 0.2)
    assert list(entropy.get_ydata()) == pytest.approx([0.0, 0.15, 0.25])
    assert entropy.get_label() == "entropy (2 pairs)"
    assert "minus random" in ax.get_title() and ax.get_ylabel().startswith("difference")


# ---------------------------------------------------------------- the al plot command


def test_plot_writes_figures_and_hand_checked_summary(tmp_path: Path):
    write_results(tmp_path / "results")
    out = tmp_path / "figs"
    res = run_al(
        "plot",
        str(tmp_path / "results"),
        "--target",
        "0.7",
        "--out",
        str(out),
        "--format",
        "png,svg",
        "--dpi",
        "100",
    )
    assert res.returncode == 0, res.stderr
    # margin (2 seeds) and entropy (3) are paired with random: fewer than 6 pairs, no warning
    assert res.stderr == ""
    assert png_size(out / "synthetic_mlp_test_accuracy.png") == (700, 450)
    assert png_size(out / "synthetic_mlp_test_accuracy_vs_random.png") == (700, 450)
    assert "<svg" in (out / "synthetic_mlp_test_accuracy.svg").read_text()[:1000]
    rows = read_csv(out / "summary_test_accuracy.csv")
    assert [r["strategy"] for r in rows] == ["margin", "entropy", "random"]  # by AUC
    s = {r["strategy"]: r for r in rows}
    expected = {
        # seeds, final mean, final std (ddof=1), AUC mean, labels to 0.7: median, min, max,
        # seeds that reach it
        "margin": (2, 0.95, 0.0, (2.475 + 2.375) / 6, (20, 20, 20), 2),
        "entropy": (3, 0.8, 0.1, (1.95 + 2.2 + 1.85) / 9, (30, 20, 30), 3),
        "random": (
            3,
            2.03 / 3,
            0.0251661148,
            (1.725 + 1.85 + 1.665) / 9,
            (math.inf, 40, math.inf),
            1,
        ),
    }
    for name, (seeds, final, std, auc, needed, reached) in expected.items():
        r = s[name]
        assert int(r["seeds"]) == seeds and int(r["partial"]) == 0
        assert float(r["final_mean"]) == pytest.approx(final)
        assert float(r["final_std"]) == pytest.approx(std, abs=1e-9)
        assert float(r["auc_mean"]) == pytest.approx(auc)
        got = [float(r[f"labels_to_target_{k}"]) for k in ("median", "min", "max")]
        assert got == list(needed)
        assert int(r["reached_target"]) == reached
        assert r["metric"] == "test_accuracy" and r["posterior"] == "deterministic"

    # paired by seed with random: AUC differences by hand (trapezoids over 10-40, range 30)
    # entropy 0.65, 0.7333, 0.6167 against random 0.575, 0.6167, 0.555
    d = np.array([0.65 - 0.575, 2.2 / 3 - 1.85 / 3, 1.85 / 3 - 0.555])
    half = 4.302653 * d.std(ddof=1) / math.sqrt(3)  # Student's t, 2 degrees of freedom
    e = s["entropy"]
    assert (e["baseline"], e["pairs"]) == ("random", "3")
    assert float(e["auc_diff"]) == pytest.approx(d.mean())
    assert float(e["auc_diff_low"]) == pytest.approx(d.mean() - half, rel=1e-5)
    assert float(e["auc_diff_high"]) == pytest.approx(d.mean() + half, rel=1e-5)
    assert float(e["final_diff"]) == pytest.approx((0.15 + 0.2 + 0.02) / 3)
    assert float(e["p_value"]) == pytest.approx(2 / 2**3)  # 3 of 3 positive, exact
    assert (e["wins"], e["ties"], e["losses"]) == ("3", "0", "0")
    assert e["note"] == "n too small: 3 pairs, smallest possible p 0.25"
    assert float(s["margin"]["p_value"]) == pytest.approx(0.5)
    assert s["random"]["note"] == "baseline" and s["random"]["p_value"] == ""

    assert "margin" in res.stdout and "0.800 ± 0.100" in res.stdout
    assert ">40 [40, >40] 1/3" in res.stdout
    md = (out / "summary_test_accuracy.md").read_text()
    assert (
        "| entropy | 3 | 10-40 | 0.800 ± 0.100 | 0.667 ± 0.060 | 30 [20, 30] 3/3 | +0.084 [" in md
    )
    assert "| 0.250 | 3/0/0 | n too small: 3 pairs, smallest possible p 0.25 |" in md


def test_plot_lower_is_better_metric_and_its_own_summary_files(tmp_path: Path):
    write_results(tmp_path)
    res = run_al("plot", str(tmp_path), "--target", "0.7", "--baseline", "none")
    assert res.returncode == 0, res.stderr
    res = run_al("plot", str(tmp_path), "--metric", "test_nll", "--target", "0.3")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "plots"  # the default: PATH/plots
    assert png_size(out / "synthetic_mlp_test_nll.png") == (1050, 675)
    rows = read_csv(out / "summary_test_nll.csv")
    assert [r["strategy"] for r in rows] == ["margin", "entropy", "random"]
    s = {r["strategy"]: r for r in rows}
    # nll = 1 - accuracy: falling to 0.3 or below is reaching accuracy 0.7
    assert float(s["entropy"]["labels_to_target_median"]) == 30
    assert int(s["random"]["reached_target"]) == 1
    assert float(s["margin"]["auc_mean"]) == pytest.approx(1 - 4.85 / 6)
    assert s["entropy"]["wins"] == "3"  # lower NLL is better
    # the accuracy summary of the first call is still there, without the baseline columns
    first = read_csv(out / "summary_test_accuracy.csv")
    assert len(first) == 3 and "p_value" not in first[0]
    assert (out / "summary_test_accuracy.md").exists() and (out / "summary_test_nll.md").exists()


def test_time_metrics_are_totals_without_the_empty_last_query(tmp_path: Path):
    for seed, (r, e) in enumerate([(0.2, 0.3), (0.1, 0.5)]):
        write_run(tmp_path / f"r{seed}", "random", seed, [0.5] * 4, query_seconds=[r] * 3 + [0])
        write_run(tmp_path / f"e{seed}", "entropy", seed, [0.5] * 4, query_seconds=[e] * 3 + [0])
    res = run_al("plot", str(tmp_path), "--metric", "query_seconds", "--target", "1")
    assert res.returncode == 0, res.stderr
    s = summary_rows(tmp_path / "plots" / "summary_query_seconds.csv")
    assert float(s["random"]["total_mean"]) == pytest.approx(0.45)  # (0.6 + 0.3) / 2
    assert float(s["entropy"]["total_mean"]) == pytest.approx(1.2)
    assert float(s["entropy"]["total_diff"]) == pytest.approx(0.75)
    assert (s["entropy"]["wins"], s["entropy"]["losses"]) == ("0", "2")
    assert "auc_mean" not in s["random"] and "labels_to_target_median" not in s["random"]
    assert png_size(tmp_path / "plots" / "synthetic_mlp_query_seconds.png")[0] > 1050


def test_runs_are_grouped_by_config_and_group_by_merges_and_says_so(tmp_path: Path):
    for seed, lr in [(0, 0.001), (1, 0.001), (2, 0.01)]:
        write_run(tmp_path / f"r{seed}", "entropy", seed, CURVES["entropy"][seed], lr=lr)
    res = run_al("plot", str(tmp_path))
    assert res.returncode == 0, res.stderr
    rows = summary_rows(tmp_path / "plots" / "summary_test_accuracy.csv")
    assert {k: r["seeds"] for k, r in rows.items()} == {
        "entropy (trainer.lr=0.001)": "2",
        "entropy (trainer.lr=0.01)": "1",
    }
    assert "entropy (trainer.lr=0.001)" in res.stdout

    res = run_al("plot", str(tmp_path), "--group-by", "strategy.name")
    assert res.returncode == 0, res.stderr
    (row,) = read_csv(tmp_path / "plots" / "summary_test_accuracy.csv")
    assert (row["label"], row["seeds"], row["merged_over"]) == ("entropy", "3", "trainer.lr")
    assert "merged over" in res.stdout and "trainer.lr" in res.stdout

    res = run_al("plot", str(tmp_path), "--group-by", "trainer.lrr")
    one_line_error(res, "trainer.lr", command="plot")


def test_different_grids_are_kept_apart_and_partial_runs_marked(tmp_path: Path):
    write_run(tmp_path / "a", "entropy", 0, [0.5, 0.6, 0.7, 0.8])
    write_run(tmp_path / "b", "entropy", 1, [0.5, 0.7, 0.8, 0.9], status="running")
    write_run(tmp_path / "c", "entropy", 2, [0.4, 0.6], n_labeled=[10, 30], status="failed")
    write_run(tmp_path / "d", "random", 0, [0.5, 0.6, 0.7, 0.8], status=None)  # no run.json
    res = run_al("plot", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "different n_labeled grids" in res.stderr and "Traceback" not in res.stderr
    rows = summary_rows(tmp_path / "plots" / "summary_test_accuracy.csv")
    full, short = rows["entropy (n_labeled 10-40 by 10)"], rows["entropy (n_labeled 10-30 by 20)"]
    assert (full["seeds"], full["partial"]) == ("2", "1")
    assert float(full["final_mean"]) == pytest.approx(0.85)
    assert (short["seeds"], short["partial"]) == ("1", "1")
    assert rows["random"]["partial"] == "0"
    assert "2 (1 partial)" in res.stdout
    # random has no run.json and the entropy lines have one: no pairing, in one warning
    (warning,) = [w for w in res.stderr.splitlines() if "paired" in w]
    assert "no paired statistics against random for 2 line(s)" in warning


def test_corrupt_curves_are_skipped_with_a_warning(tmp_path: Path):
    write_results(tmp_path)
    good = read_csv(write_run(tmp_path / "bad" / "truncated", "entropy", 9, [0.1] * 4))
    text = (tmp_path / "bad" / "truncated" / "learning_curve.csv").read_text()
    (tmp_path / "bad" / "truncated" / "learning_curve.csv").write_text(text[: text.rindex(",")])
    write_run(tmp_path / "bad" / "empty", "entropy", 8, [0.1] * 4).write_text("")
    write_run(tmp_path / "bad" / "binary", "entropy", 7, [0.1] * 4).write_bytes(b"\xff\xfe\x00")
    assert len(good) == 4
    res = run_al("plot", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    warnings = res.stderr.strip().splitlines()
    assert len(warnings) == 3
    for name in ("truncated", "empty", "binary"):
        assert any(f"bad/{name}/learning_curve.csv" in w for w in warnings), name
    rows = read_csv(tmp_path / "plots" / "summary_test_accuracy.csv")
    assert {r["strategy"]: r["seeds"] for r in rows} == {
        "margin": "2",
        "entropy": "3",
        "random": "3",
    }


@pytest.mark.parametrize(
    "case, args, message",
    [
        ("missing path", ["{tmp}/nowhere"], "does not exist"),
        ("no curves", ["{tmp}/empty"], "no learning_curve.csv below"),
        ("unknown metric", ["{tmp}/ok", "--metric", "accuracy"], "unknown metric 'accuracy'"),
        ("missing columns", ["{tmp}/cols"], "missing column(s) n_labeled, test_accuracy"),
        ("no such baseline", ["{tmp}/ok", "--baseline", "nosuch"], "choose from entropy, or none"),
        ("target nan", ["{tmp}/ok", "--target", "nan"], "'nan' is not a finite number"),
        ("unwritable out", ["{tmp}/ok", "--out", "{tmp}/file/plots"], "cannot write to --out"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, case, args, message):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    write_run(tmp_path / "ok", "entropy", 0, [0.5, 0.6, 0.7, 0.8])
    (tmp_path / "cols").mkdir()
    (tmp_path / "cols" / "learning_curve.csv").write_text(
        "dataset,model,strategy,seed,round\nsynthetic,mlp,entropy,0,0\n"
    )
    (tmp_path / "file").write_text("a file, not a folder\n")
    res = run_al("plot", *(a.format(tmp=tmp_path) for a in args))
    one_line_error(res, message, command="plot")
    assert "test_accuracy" in res.stderr or case != "unknown metric"
    assert not list(tmp_path.rglob("plots")) and not list(tmp_path.rglob("summary*"))


def test_help_documents_every_option():
    res = run_al("plot", "--help")
    assert res.returncode == 0
    for option in ("--metric", "--x", "--band", "--target", "--group-by", "--out", "--format"):
        assert option in res.stdout
    for word in ("--baseline", "--dpi", "ci95", "summary_<metric>.csv", "p_value", "Wilcoxon"):
        assert word in res.stdout


def test_plot_never_imports_torch_or_hydra(tmp_path: Path):
    for seed in range(2):
        write_run(tmp_path / f"e{seed}", "entropy", seed, [0.5, 0.6, 0.7, 0.8])
        write_run(tmp_path / f"r{seed}", "random", seed, [0.5, 0.6, 0.6, 0.7])
    code = (
        "import sys\n"
        "from al_cli.cli import main\n"
        "try:\n"
        "    main(['plot', sys.argv[1], '--band', 'ci95', '--target', '0.7'])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'hydra'))\n"
        "print('heavy:', heavy)\n"
    )
    command = [sys.executable, "-c", code, str(tmp_path)]
    res = subprocess.run(command, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "p_value" in (tmp_path / "plots" / "summary_test_accuracy.csv").read_text()
    assert "heavy: []" in res.stdout


# ---------------------------------------------------------------- real al run sweeps


def test_a_learning_rate_sweep_is_two_lines_of_one_seed(tmp_path: Path):
    """Issue 10's example, word for word: it used to print one line, 'random  seeds 2'."""
    sweep = ["-m", "trainer.lr=0.001,0.01", "seed=0", "dataset=synthetic", "budget.max_labels=60"]
    res = run_al("run", *sweep, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = run_al("plot", "results", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "al plot: 2 runs, 2 lines" in res.stdout
    rows = summary_rows(tmp_path / "results" / "plots" / "summary_test_accuracy.csv")
    assert {k: r["seeds"] for k, r in rows.items()} == {
        "random (trainer.lr=0.001)": "1",
        "random (trainer.lr=0.01)": "1",
    }
    assert len({r["config"] for r in rows.values()}) == 2


def six_seed_sweep(root: Path) -> Path:
    """A real sweep: random and entropy, 6 seeds each, with the fast settings."""
    sweep = root / "sweep"
    seeds = "seed=" + ",".join(map(str, range(6)))
    res = run_al("run", "-m", *FAST, "strategy=random,entropy", seeds, f"hydra.sweep.dir={sweep}")
    assert res.returncode == 0, res.stderr
    return sweep


def curve_numbers(sweep: Path, column: str) -> dict[tuple[str, str], tuple[float, float]]:
    """Per (strategy, seed), read straight from the CSVs: (normalised AUC, final value)."""
    out = {}
    for path in sweep.rglob("learning_curve.csv"):
        rows = read_csv(path)
        x = np.array([float(r["n_labeled"]) for r in rows])
        y = np.array([float(r[column]) for r in rows])
        key = (rows[0]["strategy"], rows[0]["seed"])
        out[key] = (np.trapezoid(y, x) / (x[-1] - x[0]), y[-1])
    return out


def test_six_seeds_get_paired_statistics_equal_to_scipys(tmp_path: Path):
    """One sweep (its runs take most of this test's time), plotted twice: test accuracy with
    the paired statistics, then query time into its own summary."""
    sweep = six_seed_sweep(tmp_path)
    out = tmp_path / "plots"
    res = run_al("plot", str(sweep), "--out", str(out), "--target", "0.5")
    assert res.returncode == 0, res.stderr
    assert png_size(out / "synthetic_mlp_test_accuracy.png") == (1050, 675)
    assert (out / "synthetic_mlp_test_accuracy_vs_random.png").exists()
    rows = summary_rows(out / "summary_test_accuracy.csv")
    assert set(rows) == {"random", "entropy"}
    e, r = rows["entropy"], rows["random"]
    for column in ("p_value", "wins", "ties", "losses"):
        assert column in e and e[column] != "", column
    assert (e["seeds"], r["seeds"], e["pairs"], e["note"]) == ("6", "6", "6", "")

    numbers = curve_numbers(sweep, "test_accuracy")
    seeds = [str(s) for s in range(6)]
    d = np.array([numbers["entropy", s][0] - numbers["random", s][0] for s in seeds])
    d[np.abs(d) < 1e-12] = 0.0
    expected_p = stats.wilcoxon(d).pvalue if np.any(d) else 1.0
    assert float(e["p_value"]) == pytest.approx(expected_p)
    ci = stats.ttest_1samp(d, 0.0).confidence_interval(0.95)
    assert float(e["auc_diff"]) == pytest.approx(d.mean())
    assert (float(e["auc_diff_low"]), float(e["auc_diff_high"])) == pytest.approx((ci.low, ci.high))
    counts = (int(e["wins"]), int(e["ties"]), int(e["losses"]))
    assert counts == ((d > 0).sum(), (d == 0).sum(), (d < 0).sum())
    finals = [numbers["entropy", s][1] for s in seeds]
    assert float(e["final_mean"]) == pytest.approx(np.mean(finals))
    assert e["last_n_labeled"] == "40" and r["partial"] == "0"

    res = run_al("plot", str(sweep), "--out", str(out), "--metric", "query_seconds")
    assert res.returncode == 0, res.stderr
    rows = summary_rows(out / "summary_query_seconds.csv")
    totals: dict[str, list[float]] = {}
    for path in sweep.rglob("learning_curve.csv"):
        curve = read_csv(path)
        assert float(curve[-1]["query_seconds"]) == 0.0  # the last round selects nothing
        seconds = sum(float(c["query_seconds"]) for c in curve)
        totals.setdefault(curve[0]["strategy"], []).append(seconds)
    for strategy, values in totals.items():
        assert float(rows[strategy]["total_mean"]) == pytest.approx(np.mean(values))
    assert len(read_csv(out / "summary_test_accuracy.csv")) == 2  # not overwritten


# ---------------------------------------------------------------- Ctrl-C: all or nothing


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_ctrl_c_while_drawing_leaves_out_as_it_was(tmp_path: Path):
    """Through the real command: Ctrl-C once drawing has begun exits 130 with one line, and
    --out keeps its earlier set untouched (the new files were drawn beside it, never in it)."""
    write_results(tmp_path / "results")
    out = tmp_path / "figs"
    out.mkdir()
    for name in ("synthetic_mlp_test_accuracy.png", "summary_test_accuracy.csv", "notes.txt"):
        (out / name).write_text(f"earlier {name}\n")
    before = contents(out)
    slow = ["--format", "png,svg,pdf", "--dpi", "300"]  # seconds of drawing to interrupt
    proc = start_al("plot", str(tmp_path / "results"), "--out", str(out), *slow)
    wait_for(
        lambda: any(any(stage.iterdir()) for stage in tmp_path.glob(".figs.*.tmp")),
        "nothing drawn yet",
        120,
        proc,
        every=0.002,
    )
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.splitlines() == ["al plot: interrupted; nothing written (--out is as it was)"]
    assert contents(out) == before and sorted(os.listdir(tmp_path)) == ["figs", "results"]


def test_outputs_are_staged_beside_out_and_moved_in(tmp_path: Path):
    """A new --out appears whole in one rename, or not at all (nor the parents made for it);
    an existing one gets each new file in place of its namesake and keeps its other files."""
    out = tmp_path / "new" / "plots"
    with pytest.raises(KeyboardInterrupt), staged(out) as stage:
        assert stage.parent == out.parent and stage.name.startswith(".plots.")
        (stage / "a.png").write_text("half drawn")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with staged(out) as stage:
        (stage / "a.png").write_text("new")
        publish(stage, out)
    assert contents(out) == {"a.png": b"new"} and os.listdir(out.parent) == ["plots"]
    (out / "mine.txt").write_text("kept")
    with staged(out) as stage:
        (stage / "a.png").write_text("newer")
        publish(stage, out)
    assert contents(out) == {"a.png": b"newer", "mine.txt": b"kept"}
    assert os.listdir(out.parent) == ["plots"]


def test_ctrl_c_is_held_off_while_files_move_in():
    previous = signal.getsignal(signal.SIGINT)
    with interrupt_held_off():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # a KeyboardInterrupt would come here
    assert signal.getsignal(signal.SIGINT) is previous


def test_an_error_a_ctrl_c_caused_inside_a_library_is_the_ctrl_c(monkeypatch, capsys):
    """A Ctrl-C that lands inside matplotlib can surface there as another error (seen: a
    TypeError mid-draw); al plot then says the Ctrl-C's line and exits 130, where the same
    error without a Ctrl-C is a fault and is raised."""
    import al_cli.plot as command

    def drawing_hit_by_ctrl_c(args):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            raise TypeError("'NoneType' object is not subscriptable") from None

    monkeypatch.setattr(command, "plot", drawing_hit_by_ctrl_c)
    assert command.main(["results"]) == 130
    assert capsys.readouterr().err == f"al plot: {command.NOT_WRITTEN}\n"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    def drawing_fault(args):
        raise TypeError("a fault")

    monkeypatch.setattr(command, "plot", drawing_fault)
    with pytest.raises(TypeError, match="a fault"):
        command.main(["results"])
