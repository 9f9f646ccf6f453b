"""The Python API: the example on its page (docs/reference/python-api.md), run as it is
written; ``load_runs``; the refusals; and ``import al_cli`` staying light."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import al_cli
from al_cli.api import load_runs, numbers
from al_cli.errors import UserError
from tests.conftest import heavy_imports

PAGE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "python-api.md"


def page_example() -> str:
    """The Python blocks of the Python API page (docs/reference/python-api.md), in order."""
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert blocks, f"no python block in {PAGE.name}"
    return "\n".join(blocks)


def test_page_example_runs_as_written(tmp_path: Path):
    checks = """
assert list(curve.n_labeled) == [20, 40, 60], curve
assert curve.attrs["run_dir"].name == "seed0"
table = runs.groupby(["strategy", "n_labeled"]).test_accuracy.mean().unstack("strategy")
assert sorted(table.columns) == ["entropy", "farthest", "random"], table
assert list(table.index) == [20, 40, 60] and table.notna().all().all()
assert runs.groupby("strategy").run_dir.nunique().to_dict() == {
    "entropy": 2, "farthest": 2, "random": 2}
assert set(runs.status) == {"finished"}
print("EXAMPLE OK")
"""
    (tmp_path / "example.py").write_text(page_example() + checks)
    out = subprocess.run(
        [sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "EXAMPLE OK" in out.stdout
    assert "round   2  labels    60" in out.stdout  # the first run is not quiet
    assert out.stdout.count("round   0") == 1  # the others are
    farthest = next((tmp_path / "results").rglob("farthest-*/seed0/queries.csv"))
    assert farthest.read_text().count("\n") == 61  # header + 60 labels, chosen by Farthest


def write_run(folder: Path, strategy: str, seed: int, status: str = "finished") -> None:
    folder.mkdir(parents=True)
    rows = [
        "dataset,model,strategy,posterior,posterior_samples,acquisition,selection,seed,round,"
        "n_labeled,test_accuracy,coreset_radius",
        f"d,m,{strategy},deterministic,1,a,topk,{seed},0,10,0.5,1.5",
        f"d,m,{strategy},deterministic,1,a,topk,{seed},1,20,0.7,",
    ]
    (folder / "learning_curve.csv").write_text("\n".join(rows) + "\n")
    config = {"seed": seed, "strategy": {"name": strategy}, "trainer": {"lr": 0.01}}
    info = {"status": status, "config": config, "config_hash": f"hash-{strategy}"}
    (folder / "run.json").write_text(json.dumps(info))


def test_load_runs_is_one_tidy_table(tmp_path: Path):
    write_run(tmp_path / "a" / "seed0", "random", 0)
    write_run(tmp_path / "a" / "seed1", "random", 1, status="running")
    write_run(tmp_path / "b" / "seed0", "entropy", 0)
    write_run(tmp_path / ".mlflow" / "copy", "entropy", 0)  # an MLflow artifact: not a run
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "learning_curve.csv").write_text("")  # unreadable: skipped, warned
    with pytest.warns(UserWarning, match="empty"):
        runs = load_runs(tmp_path)
    assert len(runs) == 6 and runs.run_dir.nunique() == 3
    assert runs.test_accuracy.dtype == float and runs.n_labeled.dtype.kind == "i"
    assert runs.coreset_radius.isna().sum() == 3  # the last round's empty diagnostic
    assert set(runs.status) == {"finished", "running"}
    assert runs.groupby("config_id").seed.nunique().to_dict() == {
        "hash-entropy": 1,
        "hash-random": 2,
    }
    assert "trainer.lr" not in runs.columns
    wide = load_runs(tmp_path / "a", tmp_path / "b", settings=True)
    assert set(wide["trainer.lr"]) == {0.01} and set(wide["strategy.name"]) == {"random", "entropy"}


def test_load_runs_refusals(tmp_path: Path):
    with pytest.raises(UserError, match="does not exist"):
        load_runs(tmp_path / "nowhere")
    with pytest.raises(UserError, match="no learning_curve.csv"):
        load_runs(tmp_path)


def test_numbers_leave_text_alone():
    table = pd.DataFrame({"a": ["1", "2"], "b": ["x", "1"], "c": ["0.5", ""], "d": ["", ""]})
    out = numbers(table)
    assert out.a.tolist() == [1, 2] and out.b.tolist() == ["x", "1"]
    assert out.c.iloc[0] == 0.5 and pd.isna(out.c.iloc[1]) and out.d.tolist() == ["", ""]


def test_run_refuses_bad_overrides_in_one_line(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as info:
        al_cli.run("dataset=synthetic", "budget.query_size=0", "device=cpu")
    assert str(info.value) == "budget.query_size=0 must be a positive integer"
    with pytest.raises(UserError, match="trainer.lrr is not a key"):
        al_cli.run("trainer.lrr=1")
    assert not (tmp_path / "results").exists()


def test_import_al_cli_is_light_and_exports_the_parts():
    assert heavy_imports("al_cli", ("torch", "pandas", "hydra", "mlflow")) == []
    from al_cli.data import DataSplit, loader
    from al_cli.models import Model
    from al_cli.posteriors import Posterior
    from al_cli.strategies import Context, Selection, Strategy

    exported = {
        "Strategy": Strategy,
        "Selection": Selection,
        "Context": Context,
        "Posterior": Posterior,
        "Model": Model,
        "DataSplit": DataSplit,
        "loader": loader,
        "UserError": UserError,
    }
    for name, obj in exported.items():
        assert getattr(al_cli, name) is obj and name in dir(al_cli)
    assert callable(al_cli.run) and callable(al_cli.load_runs)
    with pytest.raises(AttributeError):
        al_cli.nothing  # noqa: B018
