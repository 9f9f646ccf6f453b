"""Sweeps (``al run -m``) with the basic, joblib and submitit_local launchers: one complete,
content-named folder per job, and a job with a config error fails alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import FAST, read_csv, run_al

TINY = [*FAST, "budget.max_labels=20"]


def finished_runs(results: Path) -> dict[str, Path]:
    """Run folders below ``results`` whose run.json says finished, by their seed folder name."""
    runs = {}
    for info in results.rglob("run.json"):
        if json.loads(info.read_text())["status"] == "finished":
            runs[str(info.parent.relative_to(results))] = info.parent
    return runs


@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"],
    ],
    ids=["joblib", "submitit_local"],
)
def test_sweep_gives_one_complete_folder_per_job(tmp_path: Path, launcher: list[str]):
    out = run_al("run", "-m", *launcher, *TINY, "seed=0,1", f"paths.results_dir={tmp_path}")
    assert out.returncode == 0, out.stdout + out.stderr
    runs = finished_runs(tmp_path)
    assert sorted(Path(r).name for r in runs) == ["seed0", "seed1"], runs
    assert len({Path(r).parent for r in runs}) == 1  # same config, same hash folder
    curves = [read_csv(folder / "learning_curve.csv") for folder in runs.values()]
    assert all([int(r["n_labeled"]) for r in c] == [10, 20] for c in curves)
    assert {c[0]["seed"] for c in curves} == {"0", "1"}
    assert read_csv(next(iter(runs.values())) / "queries.csv")
    assert not list(tmp_path.rglob("%j"))  # submitit's literal folder name is removed


def test_config_error_fails_its_job_alone(tmp_path: Path):
    """Basic launcher: the bad job prints its line, the good one still runs, the sweep exits 1."""
    out = run_al("run", "-m", *TINY, "budget.max_labels=5,20", f"paths.results_dir={tmp_path}")
    assert out.returncode == 1
    assert "al run: error: budget.max_labels=5" in out.stderr
    assert "Traceback" not in out.stderr
    runs = finished_runs(tmp_path)
    assert len(runs) == 1
    assert [int(r["n_labeled"]) for r in read_csv(next(iter(runs.values())) / "learning_curve.csv")]
    assert len(list(tmp_path.rglob("learning_curve.csv"))) == 1
