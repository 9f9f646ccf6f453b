"""``al plot``: from learning curves in the documented schema to figures and a summary table.

Curves are written by the tests (``write_run``) with hand-picked values, so every number in
the summary is checked against a value computed by hand; one test plots a real ``al run``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from al_cli.plot.figures import FIXED_COLOURS, PALETTE, draw, line_styles, strategy_colour
from al_cli.plot.runs import Run, group_lines, name_lines
from al_cli.plot.summary import (
    band_halfwidth,
    labels_to_reach,
    lower_is_better,
    normalized_auc,
)
from al_cli.results import CURVE_COLUMNS, csv_text
from tests.conftest import FAST, read_csv, run_al

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
            "query_seconds": 0.01,
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
    """Two layouts side by side: single runs and a multirun, at different depths."""
    for strategy, curves in CURVES.items():
        for seed, accuracy in enumerate(curves):
            if strategy == "margin":
                folder = root / "single" / f"run-{seed}"
            else:
                folder = root / "multirun" / "2026-01-01" / strategy / f"s{seed}" / "x"
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
    got = labels_to_reach(x, up, 0.7, lower=False)
    assert got[0] == 20 and math.isnan(got[1])
    down = np.array([[1.0, 0.6, 0.4], [0.9, 0.8, 0.7]])
    got = labels_to_reach(x, down, 0.6, lower=True)
    assert got[0] == 20 and math.isnan(got[1])


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


def test_draw_labels_axes_and_uses_round_for_x():
    runs = [make_run("entropy", s, [0.5, 0.6 + s / 10, 0.7]) for s in range(3)]
    runs.append(make_run("random", 0, [0.4, 0.5, 0.6]))
    lines = group_lines(runs, warn=lambda m: None)
    name_lines(lines)
    fig = draw(lines, "test_accuracy", "round", "sem", 0.65, dpi=50)
    ax = fig.axes[0]
    assert "digits" in ax.get_title() and "mlp" in ax.get_title()
    assert ax.get_xlabel().startswith("round") and "accuracy" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["entropy (3 seeds)", "random (1 seed)", "target 0.65"]
    assert list(ax.lines[0].get_xdata()) == [0, 1, 2]
    assert list(ax.lines[0].get_ydata()) == pytest.approx([0.5, 0.7, 0.7])
    assert len(ax.collections) == 1  # a band for 3 seeds, none for a single seed


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
        "--markdown",
    )
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert png_size(out / "synthetic_mlp_test_accuracy.png") == (700, 450)
    assert "<svg" in (out / "synthetic_mlp_test_accuracy.svg").read_text()[:1000]
    rows = read_csv(out / "summary.csv")
    assert [r["strategy"] for r in rows] == ["margin", "entropy", "random"]  # by AUC
    s = {r["strategy"]: r for r in rows}
    expected = {
        # seeds, final mean, final std (ddof=1), AUC mean, labels to 0.7, seeds that reach it
        "margin": (2, 0.95, 0.0, (2.475 + 2.375) / 6, 20, 2),
        "entropy": (3, 0.8, 0.1, (1.95 + 2.2 + 1.85) / 9, (30 + 20 + 30) / 3, 3),
        "random": (3, 2.03 / 3, 0.0251661148, (1.725 + 1.85 + 1.665) / 9, 40, 1),
    }
    for name, (seeds, final, std, auc, needed, reached) in expected.items():
        r = s[name]
        assert int(r["seeds"]) == seeds and int(r["partial"]) == 0
        assert float(r["final_mean"]) == pytest.approx(final)
        assert float(r["final_std"]) == pytest.approx(std, abs=1e-9)
        assert float(r["auc_mean"]) == pytest.approx(auc)
        assert float(r["labels_to_target"]) == pytest.approx(needed)
        assert int(r["reached_target"]) == reached
        assert r["metric"] == "test_accuracy" and r["posterior"] == "deterministic"
    assert "margin" in res.stdout and "0.800 ± 0.100" in res.stdout and "40 (1/3)" in res.stdout
    md = (out / "summary.md").read_text()
    assert "| entropy | 3 | 10-40 | 0.800 ± 0.100 | 0.667 ± 0.060 | 27 (3/3) |" in md


def test_plot_lower_is_better_metric_sorts_ascending(tmp_path: Path):
    write_results(tmp_path)
    res = run_al("plot", str(tmp_path), "--metric", "test_nll", "--target", "0.3")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "plots"  # the default: PATH/plots
    assert png_size(out / "synthetic_mlp_test_nll.png") == (1050, 675)
    rows = read_csv(out / "summary.csv")
    assert [r["strategy"] for r in rows] == ["margin", "entropy", "random"]
    s = {r["strategy"]: r for r in rows}
    # nll = 1 - accuracy: falling to 0.3 or below is reaching accuracy 0.7
    assert float(s["entropy"]["labels_to_target"]) == pytest.approx(80 / 3)
    assert int(s["random"]["reached_target"]) == 1
    assert float(s["margin"]["auc_mean"]) == pytest.approx(1 - 4.85 / 6)


def test_group_by_config_key_splits_lines(tmp_path: Path):
    for seed, lr in [(0, 0.001), (1, 0.001), (2, 0.01)]:
        write_run(tmp_path / f"r{seed}", "entropy", seed, CURVES["entropy"][seed], lr=lr)
    res = run_al("plot", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert [r["seeds"] for r in read_csv(tmp_path / "plots" / "summary.csv")] == ["3"]

    res = run_al("plot", str(tmp_path), "--group-by", "trainer.lr")
    assert res.returncode == 0, res.stderr
    rows = summary_rows(tmp_path / "plots" / "summary.csv")
    assert set(rows) == {"entropy [trainer.lr=0.001]", "entropy [trainer.lr=0.01]"}
    assert rows["entropy [trainer.lr=0.001]"]["seeds"] == "2"
    assert rows["entropy [trainer.lr=0.01]"]["trainer.lr"] == "0.01"

    res = run_al("plot", str(tmp_path), "--group-by", "trainer.lrr")
    assert res.returncode == 2 and "trainer.lr" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_different_grids_are_kept_apart_and_partial_runs_marked(tmp_path: Path):
    write_run(tmp_path / "a", "entropy", 0, [0.5, 0.6, 0.7, 0.8])
    write_run(tmp_path / "b", "entropy", 1, [0.5, 0.7, 0.8, 0.9], status="running")
    write_run(tmp_path / "c", "entropy", 2, [0.4, 0.6], n_labeled=[10, 30], status="failed")
    write_run(tmp_path / "d", "random", 0, [0.5, 0.6, 0.7, 0.8], status=None)  # no run.json
    res = run_al("plot", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "different n_labeled grids" in res.stderr and "Traceback" not in res.stderr
    rows = summary_rows(tmp_path / "plots" / "summary.csv")
    full, short = rows["entropy [n_labeled 10-40 by 10]"], rows["entropy [n_labeled 10-30 by 20]"]
    assert (full["seeds"], full["partial"]) == ("2", "1")
    assert float(full["final_mean"]) == pytest.approx(0.85)
    assert (short["seeds"], short["partial"]) == ("1", "1")
    assert rows["random"]["partial"] == "0"
    assert "2 (1 partial)" in res.stdout


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
    seeds = {r["strategy"]: r["seeds"] for r in read_csv(tmp_path / "plots" / "summary.csv")}
    assert seeds == {"margin": "2", "entropy": "3", "random": "3"}


@pytest.mark.parametrize(
    "case, args, message",
    [
        ("missing path", ["{tmp}/nowhere"], "does not exist"),
        ("no curves", ["{tmp}/empty"], "no learning_curve.csv below"),
        ("unknown metric", ["{tmp}/ok", "--metric", "accuracy"], "unknown metric 'accuracy'"),
        ("missing columns", ["{tmp}/cols"], "missing column(s) n_labeled, test_accuracy"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, case, args, message):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    write_run(tmp_path / "ok", "entropy", 0, [0.5, 0.6, 0.7, 0.8])
    (tmp_path / "cols").mkdir()
    (tmp_path / "cols" / "learning_curve.csv").write_text(
        "dataset,model,strategy,seed,round\nsynthetic,mlp,entropy,0,0\n"
    )
    res = run_al("plot", *(a.format(tmp=tmp_path) for a in args))
    assert res.returncode == 2, case
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("al plot: error: ") and message in lines[0]
    assert "test_accuracy" in lines[0] or case != "unknown metric"
    assert not list(tmp_path.rglob("plots")) and not list(tmp_path.rglob("summary.csv"))


def test_help_documents_every_option():
    res = run_al("plot", "--help")
    assert res.returncode == 0
    for option in ("--metric", "--x", "--band", "--target", "--group-by", "--out", "--format"):
        assert option in res.stdout
    for word in ("--markdown", "--dpi", "ci95", "summary.csv", "learning_curve.csv"):
        assert word in res.stdout


def test_plot_never_imports_torch_or_hydra(tmp_path: Path):
    write_run(tmp_path / "r", "entropy", 0, [0.5, 0.6, 0.7, 0.8])
    code = (
        "import sys\n"
        "from al_cli.cli import main\n"
        "try:\n"
        "    main(['plot', sys.argv[1], '--band', 'ci95'])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'hydra'))\n"
        "print('heavy:', heavy)\n"
    )
    command = [sys.executable, "-c", code, str(tmp_path)]
    res = subprocess.run(command, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "heavy: []" in res.stdout


def test_plot_a_real_multirun(tmp_path: Path):
    sweep = tmp_path / "sweep"
    res = run_al("run", "-m", *FAST, "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert res.returncode == 0, res.stderr
    res = run_al("plot", str(sweep), "--out", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    assert png_size(tmp_path / "out" / "synthetic_mlp_test_accuracy.png") == (1050, 675)
    (row,) = read_csv(tmp_path / "out" / "summary.csv")
    finals = [float(read_csv(p)[-1]["test_accuracy"]) for p in sweep.rglob("learning_curve.csv")]
    assert len(finals) == 2 and row["seeds"] == "2" and row["partial"] == "0"
    assert float(row["final_mean"]) == pytest.approx(np.mean(finals))
    assert (row["strategy"], row["last_n_labeled"]) == ("random", "40")
