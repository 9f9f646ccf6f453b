"""Run folders made before per-option schemas (tests/data/legacy, written by that version:
two finished runs and one stopped after three rounds) are found, migrated and then skipped or
resumed, never silently recomputed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import FAST, read_csv, run_al, without_timing

LEGACY = Path(__file__).parent / "data" / "legacy"
COMMANDS = {
    "entropy": [*FAST, "strategy=entropy"],
    "bald": [*FAST, "strategy=bald", "posterior.samples=5", "seed=1"],
    "margin": [*FAST, "strategy=margin", "seed=2", "trainer.min_steps=4000"],
}
"""The commands that made them, as this version spells them."""


@pytest.fixture
def results(tmp_path: Path) -> Path:
    shutil.copytree(LEGACY, tmp_path / "results")
    return tmp_path / "results"


def test_a_legacy_run_is_refused_with_the_way_to_migrate(results: Path):
    before = sorted(p.relative_to(results) for p in results.rglob("*"))
    out = run_al("run", *COMMANDS["entropy"], f"paths.results_dir={results}")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    (line,) = [x for x in out.stderr.splitlines() if x.strip()]
    assert f"al migrate {results}" in line and "entropy-835f39cd/seed0" in line
    assert sorted(p.relative_to(results) for p in results.rglob("*")) == before  # nothing


def test_migrate_then_skip_or_resume(results: Path):
    old = {name: next(results.rglob(f"{name}-*/seed*")) for name in ("entropy", "bald", "margin")}
    curves = {n: read_csv(p / "learning_curve.csv") for n, p in old.items()}
    copy = results / ".mlflow" / "artifacts" / "entropy"  # a tracker's copy is no run
    shutil.copytree(old["entropy"], copy)
    out = run_al("migrate", str(results), "--dry-run")
    assert out.returncode == 0 and out.stdout.count("would move ") == 4, out.stdout  # + summary
    assert all(p.exists() for p in old.values())
    out = run_al("migrate", str(results))
    assert out.returncode == 0 and "moved 3 run folder(s)" in out.stdout, out.stdout + out.stderr
    assert not any(p.exists() for p in old.values())
    assert (copy / "run.json").exists()
    assert run_al("migrate", str(results)).stdout.endswith(
        "moved 0 run folder(s); 0 could not be migrated\n"
    )
    for name in ("entropy", "bald"):  # finished: skipped, files untouched
        out = run_al("run", *COMMANDS[name], f"paths.results_dir={results}")
        assert out.returncode == 0 and "already finished, skipped" in out.stdout, out.stderr
        (folder,) = results.rglob(f"{name}-*/seed*")
        assert read_csv(folder / "learning_curve.csv") == curves[name]
        assert "score" in read_csv(folder / "queries.csv")[0]
    out = run_al("run", *COMMANDS["margin"], f"paths.results_dir={results}")
    assert out.returncode == 0 and "resuming" in out.stdout and "at round 3" in out.stdout
    (folder,) = results.rglob("margin-*/seed2")
    resumed = read_csv(folder / "learning_curve.csv")
    assert len(resumed) == 4
    # the old rounds keep their values; columns added since (train_loss, train_steps) are empty
    added = set(resumed[0]) - set(curves["margin"][0])
    assert added <= {"train_loss", "train_steps"} and all(
        r[c] == "" for r in resumed[:3] for c in added
    )
    kept = [{k: r[k] for k in curves["margin"][0]} for r in resumed[:3]]
    assert without_timing(kept) == without_timing(curves["margin"])
