"""Experiment trackers, the ``logger`` config group: MLflow and TensorBoard, any number at once.

Each chosen option is a node under ``logger`` (``logger.mlflow``, ``logger.tensorboard``) whose
``_target_`` names a :class:`Tracker` subclass, built with the node's other keys. A tracker
follows one run: ``start`` once (a new run, or a resumed one with the rows it already has),
``log_rows`` after every recorded round, ``finish`` when the run ends, however it ends.

The run folder stays the record: a tracker that fails during a run is dropped with one warning
and the run goes on. What a tracker needs to continue after a resume (MLflow's run id) is kept
in ``run.json`` under ``tracking``, so a resumed run continues the same tracker run and never
logs a round twice. Nothing here imports torch, mlflow or tensorboard until a tracker is used.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from al_cli.build import call, target_class
from al_cli.errors import UserError
from al_cli.files import CURVE_COLUMNS
from al_cli.identity import as_text, flatten

log = logging.getLogger("al")

ARTIFACTS = ("learning_curve.csv", "queries.csv", "run.json")
ARTIFACT_FOLDER = ".mlflow/artifacts"
"""Below ``paths.results_dir``, for an SQLite store: hidden, so that ``al plot`` and
``al_cli.load_runs`` never read the artifact copies of learning_curve.csv as runs."""
NOT_METRICS = set(CURVE_COLUMNS[: CURVE_COLUMNS.index("seed") + 1])
"""The identity columns and the seed: tags, not metrics."""
TAGS = ("dataset", "model", "strategy", "posterior", "seed")


@dataclass
class TrackedRun:
    """What a tracker is told about the run it follows."""

    out_dir: Path
    results_dir: Path
    name: str
    """``<strategy>-<config hash>-seed<seed>``: unique within a results folder."""
    config: dict[str, Any]
    """The resolved config (params)."""
    tags: dict[str, str]
    rows: list[dict[str, Any]]
    """Rows already recorded: a resumed run's rows from its checkpoint, else none."""
    previous: dict[str, Any] | None
    """What this tracker kept in run.json when the run last ran (resumed runs only)."""


class Tracker:
    """An experiment tracker for one run. ``logger.<name>._target_`` names a subclass, which
    is built with the option's other keys; ``requires`` names the module it imports and the
    extra that installs it, checked before a run starts."""

    requires: tuple[str, str] | None = None

    def start(self, run: TrackedRun) -> dict[str, Any]:
        """Open (or reopen) the tracker's run and log ``run.rows`` not yet logged; returns
        what to keep in run.json to continue after a resume."""
        return {}

    def log_rows(self, rows: list[dict[str, Any]]) -> None:
        """Log rows of learning_curve.csv, each a round."""

    def finish(self, status: str, out_dir: Path) -> None:
        """The run ended with ``status`` (finished, failed, interrupted); its files are final."""

    @classmethod
    def prepare(cls, node: DictConfig, results_dir: Path) -> None:
        """Once per sweep, in the launching process, before any job starts."""


def metrics(row: dict[str, Any]) -> dict[str, float]:
    """The numeric columns of a curve row other than its identity and seed."""
    out = {}
    for key, value in row.items():
        if key in NOT_METRICS or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) and math.isfinite(value):
            out[key] = float(value)
    return out


def require(module: str, option: str, extra: str) -> Any:
    """Import ``module`` for ``logger=option``; a missing package is one line naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(
            f"logger={option} needs the {module} package, which is not installed: "
            f"pip install 'al-cli[{extra}]'"
        ) from None


def tracker_class(name: str, node: DictConfig) -> type[Tracker]:
    """The Tracker subclass of ``logger.<name>``, its package checked."""
    cls = target_class(node, f"logger.{name}", Tracker, "an experiment tracker")
    if cls.requires is not None:
        require(cls.requires[0], name, cls.requires[1])
    return cls


def build_trackers(loggers: DictConfig) -> dict[str, Tracker]:
    """Every tracker chosen under ``logger``, built and checked."""
    return {
        str(name): call(tracker_class(str(name), node), f"logger.{name}", node)
        for name, node in loggers.items()
    }


def prepare_trackers(cfg: DictConfig) -> None:
    """The launching process's part, before any job starts: check that every chosen tracker's
    package is installed and let it prepare (MLflow creates its store and experiment)."""
    loggers = OmegaConf.select(cfg, "logger", default=None) or {}
    results_dir = Path(str(cfg.paths.results_dir))
    for name, node in loggers.items():
        tracker_class(str(name), node).prepare(node, results_dir)


def check_trackers(cfg: DictConfig) -> None:
    """Only the package check of ``prepare_trackers``: writes nothing."""
    for name, node in (OmegaConf.select(cfg, "logger", default=None) or {}).items():
        tracker_class(str(name), node)


class Trackers:
    """The trackers of one run, told of every round the Recorder saves and of the run's end."""

    def __init__(self, trackers: dict[str, Tracker]):
        self.trackers = trackers

    def recorded(self, row: dict[str, Any]) -> None:
        for name in list(self.trackers):
            with self.dropped_on_error(name):
                self.trackers[name].log_rows([row])

    def finished(self, status: str, out_dir: Path) -> None:
        for name in list(self.trackers):
            with self.dropped_on_error(name):
                self.trackers[name].finish(status, out_dir)

    @contextlib.contextmanager
    def dropped_on_error(self, name: str) -> Iterator[None]:
        try:
            yield
        except Exception as err:
            self.trackers.pop(name, None)
            log.warning(
                f"al run: logger={name} failed ({type(err).__name__}: {err}); the run goes on "
                f"without it (its files are complete)"
            )


def previous_tracking(out_dir: Path) -> dict[str, Any]:
    """``run.json["tracking"]`` of the run in ``out_dir`` before this one rewrites it."""
    try:
        info = json.loads((out_dir / "run.json").read_text())
        tracking = info.get("tracking") if isinstance(info, dict) else None
    except (OSError, ValueError):
        return {}
    return tracking if isinstance(tracking, dict) else {}


def track(cfg: DictConfig, recorder: Any, identity: dict[str, Any]) -> None:
    """Start the trackers chosen under ``cfg.logger`` for the run ``recorder`` keeps, and have
    them follow it; ``identity``: the run's identity columns (dataset, model, ..., seed). Call
    after ``recorder.restore`` (a resumed run's rows are then known) and before
    ``recorder.start`` (which rewrites run.json, where the trackers' ids are kept)."""
    loggers = OmegaConf.select(cfg, "logger", default=None)
    if not loggers:
        return
    trackers = build_trackers(loggers)
    out_dir = Path(recorder.out_dir)
    previous = previous_tracking(out_dir) if recorder.curve else {}
    tags = {key: str(identity.get(key, "")) for key in TAGS}
    tags["config_hash"] = str(recorder.info.get("config_hash", ""))
    tags["al.run_dir"] = str(out_dir.resolve())
    kept = {}
    for name, tracker in trackers.items():
        run = TrackedRun(
            out_dir=out_dir,
            results_dir=Path(str(cfg.paths.results_dir)),
            name=f"{tags['strategy']}-{tags['config_hash']}-seed{tags['seed']}",
            config=recorder.config,
            tags=tags,
            rows=list(recorder.curve),
            previous=previous.get(name),
        )
        kept[name] = tracker.start(run)
    recorder.info["tracking"] = kept
    recorder.listeners.append(Trackers(trackers))


# -- MLflow -----------------------------------------------------------------------------------

MLFLOW_STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
PARAMS_PER_CALL = 100
MAX_PARAM_LENGTH = 6000


@contextlib.contextmanager
def quiet_mlflow() -> Iterator[None]:
    """MLflow's and alembic's INFO lines (creating and upgrading the store) kept off the run's
    console; warnings still show."""
    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def mlflow_uri(tracking_uri: str | None, results_dir: Path) -> str:
    """The given URI, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///<results>/mlflow.db``."""
    if tracking_uri:
        return tracking_uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return "sqlite:///" + (results_dir.resolve() / "mlflow.db").as_posix()


def mlflow_experiment(client: Any, name: str, uri: str, results_dir: Path) -> str:
    """The id of experiment ``name``, created if new: with an SQLite store its artifacts go to
    ``<results>/.mlflow/artifacts``, else where the server puts them. Parallel jobs that create
    an SQLite store or the experiment at once retry, then find what the other made."""
    location, attempts = None, 1  # a server retries by itself (MLflow's HTTP retries)
    if uri.startswith("sqlite:"):
        location, attempts = (results_dir.resolve() / ARTIFACT_FOLDER).as_uri(), 5
    for attempt in range(attempts):
        try:
            with quiet_mlflow():
                found = client.get_experiment_by_name(name)
                if found is None:
                    return client.create_experiment(name, artifact_location=location)
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
            continue
        if found.lifecycle_stage == "deleted":
            raise UserError(
                f"the MLflow experiment {name!r} is deleted; restore it (mlflow experiments "
                f"restore) or choose another with logger.mlflow.experiment=NAME"
            )
        return found.experiment_id
    raise AssertionError("unreachable")


def mlflow_client(uri: str, results_dir: Path) -> Any:
    """A client of the store at ``uri``; an SQLite store's folder is made first."""
    require("mlflow", "mlflow", "mlflow")
    from mlflow.tracking import MlflowClient

    if uri.startswith("sqlite:"):
        results_dir.mkdir(parents=True, exist_ok=True)
    with quiet_mlflow():
        return MlflowClient(tracking_uri=uri)


class MLflowTracker(Tracker):
    """One MLflow run per al run: the resolved config as params, every curve column as a metric
    with step = n_labeled, tags (dataset, model, strategy, posterior, seed, config_hash,
    al.run_dir), and learning_curve.csv, queries.csv and run.json as artifacts at the end."""

    requires = ("mlflow", "mlflow")

    def __init__(self, experiment: str = "al", tracking_uri: str | None = None):
        self.experiment = experiment
        self.tracking_uri = tracking_uri
        self.client: Any = None
        self.run_id = ""

    @classmethod
    def prepare(cls, node: DictConfig, results_dir: Path) -> None:
        uri = mlflow_uri(node.get("tracking_uri"), results_dir)
        try:
            client = mlflow_client(uri, results_dir)
            mlflow_experiment(client, str(node.experiment), uri, results_dir)
        except UserError:
            raise
        except Exception as err:
            raise UserError(f"MLflow at {uri} cannot be used: {one_line(err)}") from None

    def start(self, run: TrackedRun) -> dict[str, Any]:
        from mlflow.entities import Param, RunTag

        uri = mlflow_uri(self.tracking_uri, run.results_dir)
        try:
            self.client = mlflow_client(uri, run.results_dir)
            experiment_id = mlflow_experiment(self.client, self.experiment, uri, run.results_dir)
            last_round = self.reopen((run.previous or {}).get("run_id"))
            if last_round is None:
                created = self.client.create_run(experiment_id, run_name=run.name, tags=run.tags)
                self.run_id = created.info.run_id
                params = [
                    Param(k, v[:MAX_PARAM_LENGTH]) for k, v in flatten(run.config, as_text).items()
                ]
                for i in range(0, len(params), PARAMS_PER_CALL):
                    self.client.log_batch(self.run_id, params=params[i : i + PARAMS_PER_CALL])
                last_round = -1
            else:
                self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in run.tags.items()])
        except UserError:
            raise
        except Exception as err:
            raise UserError(
                f"MLflow at {uri} cannot be used: {one_line(err)}; check "
                f"logger.mlflow.tracking_uri, or run without logger=mlflow"
            ) from None
        self.log_rows([r for r in run.rows if r["round"] > last_round])
        return {"run_id": self.run_id, "experiment_id": experiment_id, "tracking_uri": uri}

    def reopen(self, run_id: str | None) -> int | None:
        """Continue the MLflow run of an earlier attempt: the last round it logged, or None
        when there is no such run in this store."""
        if not run_id:
            return None
        try:
            found = self.client.get_run(run_id)
        except Exception:
            return None
        self.run_id = run_id
        self.client.update_run(run_id, status="RUNNING")
        return int(found.data.metrics.get("round", -1))

    def log_rows(self, rows: list[dict[str, Any]]) -> None:
        from mlflow.entities import Metric

        for row in rows:
            now = int(time.time() * 1000)
            step = int(row["n_labeled"])
            batch = [Metric(k, v, now, step) for k, v in metrics(row).items()]
            self.client.log_batch(self.run_id, metrics=batch)

    def finish(self, status: str, out_dir: Path) -> None:
        for name in ARTIFACTS:
            if (out_dir / name).exists():
                self.client.log_artifact(self.run_id, str(out_dir / name))
        self.client.set_terminated(self.run_id, MLFLOW_STATUS.get(status, "FAILED"))


def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:300]}"


# -- TensorBoard ------------------------------------------------------------------------------


class TensorBoardTracker(Tracker):
    """Every curve column as a scalar with step = n_labeled, and the config as text, in event
    files in the run folder (``tensorboard --logdir results``). A resumed run purges what the
    earlier attempt logged and logs the saved rounds again, so no step appears twice."""

    requires = ("tensorboard", "tensorboard")

    def __init__(self) -> None:
        self.writer: Any = None
        self.backlog: list[dict[str, Any]] = []
        self.text: str | None = None
        self.out_dir = Path()

    def start(self, run: TrackedRun) -> dict[str, Any]:
        self.out_dir = run.out_dir
        self.backlog = list(run.rows)
        if not run.rows:
            yaml = OmegaConf.to_yaml(OmegaConf.create(run.config))
            self.text = "    " + yaml.replace("\n", "\n    ")  # Markdown code block
        return {"log_dir": str(run.out_dir)}

    def open(self) -> Any:
        """The writer, made at the first round (so a refused run writes nothing): after a
        resume it purges every step from the first saved round on, which it then logs again."""
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            purge = int(self.backlog[0]["n_labeled"]) if self.backlog else None
            self.writer = SummaryWriter(log_dir=str(self.out_dir), purge_step=purge)
            if self.text is not None:
                self.writer.add_text("config", self.text, global_step=0)
        return self.writer

    def log_rows(self, rows: list[dict[str, Any]]) -> None:
        writer = self.open()
        for row in [*self.backlog, *rows]:
            for key, value in metrics(row).items():
                writer.add_scalar(key, value, global_step=int(row["n_labeled"]))
        self.backlog = []
        writer.flush()

    def finish(self, status: str, out_dir: Path) -> None:
        self.log_rows([])
        self.writer.close()
