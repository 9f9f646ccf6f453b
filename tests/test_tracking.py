"""Experiment tracking (``logger=mlflow``, ``logger=tensorboard``): what a run logs, read back
with MLflow's own client and TensorBoard's own event reader, through the real CLI; a resumed
run continues the same tracker run without logging a round twice; a sweep is one experiment."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest

from al_cli.files import CURVE_COLUMNS
from al_cli.tracking import Tracker, Trackers, metrics
from tests.conftest import FAST, one_line_error, read_csv, run_al, run_info, start_al, wait_for

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")

from mlflow.tracking import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

BOTH = "logger=[mlflow,tensorboard]"
LONG = [*FAST, "budget.max_labels=60", "trainer.min_steps=60", "strategy=entropy"]
"""Six rounds: enough to stop a run in the middle of it."""
METRICS = [c for c in CURVE_COLUMNS[CURVE_COLUMNS.index("round") :]]


def client(results: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{results / 'mlflow.db'}")


def mlflow_runs(results: Path, experiment: str = "al") -> list:
    c = client(results)
    found = c.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r} in {results}"
    return c.search_runs([found.experiment_id])


def history(results: Path, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client(results).get_metric_history(run_id, key))


def scalars(run_dir: Path, key: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return sorted((s.step, s.value) for s in events.Scalars(key))


def run_folders(results: Path) -> list[Path]:
    """The run folders below ``results``, as al plot finds them (not MLflow's copies)."""
    from al_cli.plot.runs import find_curves

    if not any(results.rglob("learning_curve.csv")):
        return []
    return [p.parent for p in find_curves([results])]


def curve_steps(run_dir: Path, key: str) -> list[tuple[int, float]]:
    return [(int(r["n_labeled"]), float(r[key])) for r in read_csv(run_dir / "learning_curve.csv")]


def same_points(logged: list[tuple[int, float]], expected: list[tuple[int, float]]) -> bool:
    """The same steps, each once, with the same values (TensorBoard keeps float32)."""
    steps, values = zip(*logged, strict=True) if logged else ((), ())
    want_steps, want_values = zip(*expected, strict=True)
    return steps == want_steps and list(values) == pytest.approx(list(want_values), rel=1e-6)


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its tables made (a few seconds, once per session)."""
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


def test_killed_then_resumed_run_continues_the_same_tracker_runs(tmp_path: Path, empty_store):
    shutil.copy(empty_store, tmp_path / "mlflow.db")  # the tables exist: only the run is timed
    args = ("run", *LONG, BOTH, f"paths.results_dir={tmp_path}")
    proc = start_al(*args)
    wait_for(
        lambda: any(len(read_csv(f / "learning_curve.csv")) >= 2 for f in run_folders(tmp_path)),
        "no second round",
        240,
        proc,
        every=0.05,
    )
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    [folder] = run_folders(tmp_path)
    done = len(read_csv(folder / "learning_curve.csv"))
    assert 2 <= done < 6, "the run ended before it could be killed"
    [killed] = mlflow_runs(tmp_path)
    assert killed.info.status == "RUNNING"

    out = run_al(*args)
    assert out.returncode == 0, out.stderr
    assert "resuming" in out.stdout
    [run] = mlflow_runs(tmp_path)  # the same MLflow run, now finished
    assert run.info.run_id == killed.info.run_id and run.info.status == "FINISHED"
    assert len(read_csv(folder / "learning_curve.csv")) == 6
    for key in ("round", "n_labeled", "test_accuracy"):  # each round once, as in the CSV
        assert same_points(history(tmp_path, run.info.run_id, key), curve_steps(folder, key))
        assert same_points(scalars(folder, key), curve_steps(folder, key))
    assert len(list(folder.glob("events.out.tfevents.*"))) == 2  # one file per attempt


def test_two_job_sweep_logs_everything_one_experiment_a_run_per_job(tmp_path: Path):
    """A joblib sweep of two jobs at once with both trackers: the launching process makes the
    store; each job is one MLflow run (params, every curve column, tags, artifacts) and one
    TensorBoard run in its folder."""
    out = run_al(
        "run",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        *FAST,
        "budget.max_labels=30",
        "strategy=entropy",
        BOTH,
        "logger.mlflow.experiment=sweep",
        "seed=0,1",
        f"paths.results_dir={tmp_path}",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and "mlflow.store" not in out.stderr
    # MLflow's artifact copies of the curves lie in a hidden folder, which al plot does not read
    assert len(list(tmp_path.rglob("learning_curve.csv"))) == 4
    assert (tmp_path / ".mlflow" / "artifacts").is_dir()  # beside mlflow.db, not in ./mlruns
    runs = {r.data.tags["seed"]: r for r in mlflow_runs(tmp_path, "sweep")}
    folders = run_folders(tmp_path)
    assert sorted(runs) == ["0", "1"] and [f.name for f in folders] == ["seed0", "seed1"]
    for folder in folders:
        seed = folder.name.removeprefix("seed")
        run, info = runs[seed], run_info(folder)
        assert info["tracking"]["mlflow"]["run_id"] == run.info.run_id
        assert run.info.status == "FINISHED" and run.info.run_name.startswith("entropy-")
        tags = run.data.tags
        assert tags["dataset"] == "synthetic" and tags["model"] == "mlp"
        assert tags["strategy"] == "entropy" and tags["al.run_dir"] == str(folder)
        assert tags["config_hash"] == info["config_hash"] in folder.parent.name
        params = run.data.params
        assert params["trainer.epochs"] == "5" and params["strategy.name"] == "entropy"
        assert params["dataset.n_samples"] == "300" and params["seed"] == seed
        for key in METRICS:  # every curve column, step = n_labeled, exactly as in the CSV
            assert same_points(history(tmp_path, run.info.run_id, key), curve_steps(folder, key))
            assert same_points(scalars(folder, key), curve_steps(folder, key))
        artifacts = {a.path for a in client(tmp_path).list_artifacts(run.info.run_id)}
        assert artifacts == {"learning_curve.csv", "queries.csv", "run.json"}
        copy = client(tmp_path).download_artifacts(
            run.info.run_id, "run.json", str(tmp_path / seed)
        )
        assert json.loads(Path(copy).read_text())["status"] == "finished"


def test_missing_package_is_one_line_naming_the_extra(tmp_path: Path):
    fake = tmp_path / "site"
    (fake / "mlflow").mkdir(parents=True)
    (fake / "mlflow" / "__init__.py").write_text("raise ImportError('No module named mlflow')\n")
    results = tmp_path / "results"
    for sweep in ([], ["-m"]):
        out = run_al(
            "run",
            *sweep,
            *FAST,
            "logger=mlflow",
            f"paths.results_dir={results}",
            env={"PYTHONPATH": str(fake)},
        )
        one_line_error(out, "pip install 'al-cli[mlflow]'")
        assert not results.exists()


def test_unreachable_server_is_one_line_and_writes_nothing(tmp_path: Path):
    out = run_al(
        "run",
        *FAST,
        "logger=mlflow",
        "logger.mlflow.tracking_uri=http://127.0.0.1:9",
        f"hydra.run.dir={tmp_path / 'run'}",
        env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"},
    )
    one_line_error(out, "MLflow at http://127.0.0.1:9")
    assert not (tmp_path / "run").exists()


# ---- unit level -------------------------------------------------------------------------------


def test_metrics_are_the_numeric_columns_without_identity():
    row = {c: "x" for c in CURVE_COLUMNS[: CURVE_COLUMNS.index("seed")]}
    row |= {"seed": 3, "posterior_samples": 20, "round": 1, "n_labeled": 20}
    row |= {"test_accuracy": 0.5, "coreset_radius": "", "query_seconds": 0.0}
    assert metrics(row) == {"round": 1, "n_labeled": 20, "test_accuracy": 0.5, "query_seconds": 0}


def test_a_failing_tracker_is_dropped_and_the_run_goes_on(caplog):
    class Broken(Tracker):
        def log_rows(self, rows):
            raise ConnectionError("server gone")

    class Fine(Tracker):
        rows: list = []

        def log_rows(self, rows):
            self.rows = [*self.rows, *rows]

    fine = Fine()
    trackers = Trackers({"broken": Broken(), "fine": fine})
    with caplog.at_level("WARNING", logger="al"):
        trackers.recorded({"round": 0})
        trackers.recorded({"round": 1})
    assert fine.rows == [{"round": 0}, {"round": 1}] and list(trackers.trackers) == ["fine"]
    assert sum("logger=broken failed" in r.message for r in caplog.records) == 1


def test_logger_group_composes_one_or_several():
    from tests.conftest import compose_config, refused

    assert dict(compose_config().logger) == {}
    both = compose_config("logger=[mlflow,tensorboard]")
    assert set(both.logger) == {"mlflow", "tensorboard"}
    assert both.logger.mlflow.experiment == "al" and both.logger.mlflow.tracking_uri is None
    refused("logger=mlflow", "logger.mlflow.experimnt=x", key="logger.mlflow.experimnt")
    refused("logger=wandb", key="logger")


class OwnTracker(Tracker):
    """A tracker of one's own, as a YAML under --config-dir's logger/ would name it."""

    def __init__(self, project: str):
        self.project = project


def test_own_tracker_is_built_from_its_target():
    from omegaconf import OmegaConf

    from al_cli.errors import UserError
    from al_cli.tracking import build_trackers

    node = OmegaConf.create({"mine": {"_target_": f"{__name__}.OwnTracker", "project": "al"}})
    [(name, tracker)] = build_trackers(node).items()
    assert name == "mine" and isinstance(tracker, OwnTracker) and tracker.project == "al"
    with pytest.raises(UserError, match="is not an experiment tracker"):
        build_trackers(OmegaConf.create({"x": {"_target_": "collections.OrderedDict"}}))
