"""Finding, reading and grouping the runs below a results folder.

A run is one ``learning_curve.csv`` (and the ``run.json`` beside it, when there is one). Runs
are found by file name at any depth, never by folder name, so any run-folder layout works. Runs
that share an identity (dataset, model, strategy, posterior, ..., and any ``--group-by`` key)
and the same ``n_labeled`` grid become one line: their metric is averaged over seeds.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from al_cli.files import CURVE_COLUMNS
from al_cli.plot import PlotError

CURVE_FILE = "learning_curve.csv"
IDENTITY = CURVE_COLUMNS[: CURVE_COLUMNS.index("seed")]
"""The columns that say what was run (dataset, model, strategy, posterior, ...): every column
before ``seed`` in the schema. Those a CSV lacks are left out of its identity."""
REQUIRED = ["dataset", "model", "strategy", "seed", "round", "n_labeled"]
NOT_METRICS = {*IDENTITY, "seed", "round", "n_labeled"}
MISSING = "n/a"
"""The value of a ``--group-by`` key that a run does not have."""


class BadCurve(Exception):
    """One file that cannot be used; it is skipped with a warning naming it."""


@dataclass
class Run:
    """One run's learning curve for the chosen metric."""

    path: Path
    identity: dict[str, str]
    seed: str
    n_labeled: np.ndarray
    rounds: np.ndarray
    values: np.ndarray
    status: str
    """``finished``, ``running`` or ``failed`` from run.json; ``unknown`` without one."""

    @property
    def partial(self) -> bool:
        """A run that has not finished (still running, or failed): its curve may be short."""
        return self.status not in ("finished", "unknown")


@dataclass
class Line:
    """Runs averaged together: the same identity and the same ``n_labeled`` grid."""

    identity: dict[str, str]
    runs: list[Run]
    grid_split: bool = False
    """True when runs of this identity had other grids too (kept apart as other lines)."""
    label: str = field(default="", compare=False)

    @property
    def n_labeled(self) -> np.ndarray:
        return self.runs[0].n_labeled

    @property
    def rounds(self) -> np.ndarray:
        return self.runs[0].rounds

    @property
    def values(self) -> np.ndarray:
        """``[seeds, points]``."""
        return np.stack([r.values for r in self.runs])

    @property
    def partial(self) -> int:
        return sum(r.partial for r in self.runs)


def find_curves(paths: list[Path]) -> list[Path]:
    """Every ``learning_curve.csv`` below each path (or the path itself), each once, sorted."""
    found: dict[Path, None] = {}
    for path in paths:
        if not path.exists():
            raise PlotError(f"{path} does not exist; give a results folder or a {CURVE_FILE}")
        if path.is_file():
            if path.name != CURVE_FILE:
                raise PlotError(f"{path} is not a {CURVE_FILE}; give a folder or such a file")
            curves = [path]
        else:
            curves = sorted(p for p in path.rglob(CURVE_FILE) if p.is_file())
        if not curves:
            raise PlotError(f"no {CURVE_FILE} below {path}; run 'al run' first or check the path")
        found.update(dict.fromkeys(p.resolve() for p in curves))
    return sorted(found)


def read_table(path: Path) -> pd.DataFrame:
    """The CSV as strings, or BadCurve when it cannot be parsed or a row is cut short."""
    try:
        text = path.read_text()
        rows = list(csv.reader(io.StringIO(text)))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise BadCurve(f"not a readable CSV ({type(err).__name__}: {err})") from err
    if not rows:
        raise BadCurve("the file is empty")
    for i, row in enumerate(rows[1:], start=1):
        if row and len(row) != len(rows[0]):
            raise BadCurve(
                f"row {i} has {len(row)} fields, the header {len(rows[0])} (truncated or corrupt?)"
            )
    try:
        table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise BadCurve(f"not a readable CSV ({type(err).__name__}: {err})") from err
    if table.empty:
        raise BadCurve("it has no rows yet")
    return table


def read_info(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The run.json beside a curve (``None`` when absent), and a warning if it is unreadable."""
    info_path = path.parent / "run.json"
    if not info_path.exists():
        return None, None
    try:
        info = json.loads(info_path.read_text())
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")
        return info, None
    except (OSError, ValueError) as err:
        return None, f"{info_path}: unreadable ({err}); its run is treated as complete"


def config_value(config: Any, key: str) -> Any:
    """``config['a']['b']`` for ``key='a.b'``; KeyError when absent."""
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def config_keys(config: Any) -> list[str]:
    """Every dotted leaf key of a nested config."""
    if not isinstance(config, dict):
        return []
    keys = []
    for name, sub in config.items():
        inner = config_keys(sub)
        keys += [f"{name}.{k}" for k in inner] if inner else [str(name)]
    return keys


def as_label(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def numeric(table: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise BadCurve(f"row {bad[0] + 1} has no number in {column!r} (truncated or corrupt?)")
    return values


def make_run(
    path: Path, table: pd.DataFrame, info: dict[str, Any] | None, metric: str, group_by: list[str]
) -> Run:
    """Check one CSV against the schema and turn it into a Run; BadCurve when it is unusable."""
    missing = [c for c in [*REQUIRED, metric] if c not in table.columns]
    if missing:
        raise BadCurve(f"missing column(s) {', '.join(missing)}")
    identity: dict[str, str] = {}
    for column in [c for c in IDENTITY if c in table.columns] + ["seed"]:
        values = table[column].unique()
        if len(values) != 1 or values[0] == "":
            what = "is empty in some row" if "" in values else "differs between rows"
            raise BadCurve(f"column {column!r} {what}; a file must hold exactly one run")
        identity[column] = str(values[0])
    seed = identity.pop("seed")
    config = info.get("config") if info else None
    for key in group_by:
        if key in table.columns:
            values = table[key].unique()
            identity[key] = str(values[0]) if len(values) == 1 else "/".join(map(str, values))
        else:
            try:
                identity[key] = as_label(config_value(config, key))
            except KeyError:
                identity[key] = MISSING
    n_labeled = numeric(table, "n_labeled")
    if np.any(np.diff(n_labeled) <= 0):
        raise BadCurve("n_labeled does not increase from row to row")
    return Run(
        path=path,
        identity=identity,
        seed=seed,
        n_labeled=n_labeled,
        rounds=numeric(table, "round"),
        values=numeric(table, metric),
        status=str(info.get("status", "unknown")) if info else "unknown",
    )


def load_runs(
    curves: list[Path], metric: str, group_by: list[str], warn: Callable[[str], None]
) -> tuple[list[Run], list[str]]:
    """Read every curve; unusable files are reported through ``warn`` and skipped.

    Raises PlotError for an unknown metric or ``--group-by`` key (a mistake on the command
    line, not in a file). Returns the runs and the reasons files were skipped.
    """
    tables: list[tuple[Path, pd.DataFrame]] = []
    skipped: list[str] = []
    for path in curves:
        try:
            tables.append((path, read_table(path)))
        except BadCurve as err:
            skipped.append(f"{path}: {err}")
    columns = {c for _, t in tables for c in t.columns}
    metrics = sorted(columns - NOT_METRICS)
    if tables and metric not in columns and metric not in CURVE_COLUMNS:
        raise PlotError(
            f"unknown metric {metric!r}; choose --metric from {', '.join(metrics) or '(none)'}"
        )
    if metric in NOT_METRICS:
        raise PlotError(f"{metric!r} is not a metric; choose --metric from {', '.join(metrics)}")
    infos = {}
    for path, _ in tables:
        infos[path], problem = read_info(path)
        if problem:
            warn(problem)
    for key in group_by:
        known = columns | {k for i in infos.values() if i for k in config_keys(i.get("config"))}
        if tables and key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "e.g. budget.query_size"
            raise PlotError(
                f"--group-by {key}: no run has this key in its CSV or in the config of its "
                f"run.json; {hint}"
            )
    runs = []
    for path, table in tables:
        try:
            runs.append(make_run(path, table, infos[path], metric, group_by))
        except BadCurve as err:
            skipped.append(f"{path}: {err}")
    return runs, skipped


def describe_grid(n_labeled: np.ndarray) -> str:
    """``20-300 by 20`` for a regular grid (the last step may be shorter), else ``k points``."""
    first, last = int(n_labeled[0]), int(n_labeled[-1])
    steps = np.diff(n_labeled)
    if len(steps) and np.all(steps[:-1] == steps[0]) and steps[-1] <= steps[0]:
        return f"{first}-{last} by {int(steps[0])}"
    return f"{len(n_labeled)} points {first}-{last}"


def group_lines(runs: list[Run], warn: Callable[[str], None]) -> list[Line]:
    """Average runs with the same identity and identical ``n_labeled`` grids.

    Runs of one identity whose grids differ (another budget, or a run cut short) are never
    averaged together: each grid becomes its own line, with a warning.
    """
    by_identity: dict[tuple, dict[tuple, list[Run]]] = {}
    for run in runs:
        grids = by_identity.setdefault(tuple(run.identity.items()), {})
        grids.setdefault(tuple(run.n_labeled.tolist()), []).append(run)
    lines = []
    for identity, grids in by_identity.items():
        split = len(grids) > 1
        if split:
            parts = "; ".join(
                f"{describe_grid(r[0].n_labeled)}: {len(r)} run(s)"
                + (f", {sum(x.partial for x in r)} partial" if any(x.partial for x in r) else "")
                for r in grids.values()
            )
            warn(
                f"{describe_identity(dict(identity))}: runs have different n_labeled grids, "
                f"kept apart ({parts})"
            )
        for members in grids.values():
            seeds = [r.seed for r in members]
            repeated = sorted({s for s in seeds if seeds.count(s) > 1})
            if repeated:
                warn(
                    f"{describe_identity(dict(identity))}: seed(s) {', '.join(repeated)} appear "
                    f"in more than one run; each run counts as a seed in the mean"
                )
            lines.append(Line(dict(identity), members, grid_split=split))
    return lines


def describe_identity(identity: dict[str, str]) -> str:
    rest = [f"{k}={v}" for k, v in identity.items() if k not in ("dataset", "model", "strategy")]
    head = f"{identity['strategy']} on {identity['dataset']}/{identity['model']}"
    return f"{head} ({', '.join(rest)})" if rest else head


def name_lines(lines: list[Line]) -> None:
    """Give each line its legend name: the strategy, plus what tells it apart from the other
    lines of the same strategy on the same dataset and model (a key=value, or its grid)."""
    family: dict[tuple[str, str, str], list[Line]] = {}
    for line in lines:
        i = line.identity
        family.setdefault((i["dataset"], i["model"], i["strategy"]), []).append(line)
    for members in family.values():
        keys = dict.fromkeys(k for m in members for k in m.identity)
        keys = [k for k in keys if k not in ("dataset", "model", "strategy")]
        varying = [k for k in keys if len({m.identity.get(k) for m in members}) > 1]
        for line in members:
            parts = [f"{k}={line.identity.get(k, MISSING)}" for k in varying]
            if line.grid_split:
                parts.append(f"n_labeled {describe_grid(line.n_labeled)}")
            line.label = line.identity["strategy"] + (f" [{', '.join(parts)}]" if parts else "")
