"""Finding, reading and grouping the runs below a results folder.

A run is one ``learning_curve.csv`` (and the ``run.json`` beside it, when there is one). Runs
are found by file name at any depth, never by folder name, so any run-folder layout works.

A line is one experiment: runs that differ only in their seed. Runs are grouped by their
config id (``run.json["config_hash"]``, or a hash of ``run.json["config"]`` without the keys
that never change results), and by the CSV's identity columns where there is no run.json;
never by a subset of the settings. ``--group-by KEY`` instead groups by the identity columns
and KEY, merging runs that differ in other settings, and each line records which ones. Runs of
one group whose ``n_labeled`` grids differ stay separate lines.
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

from al_cli.files import CURVE_COLUMNS, in_hidden
from al_cli.identity import as_text, flatten, identity_hash, identity_of
from al_cli.plot.shared import PlotError

CURVE_FILE = "learning_curve.csv"
IDENTITY = CURVE_COLUMNS[: CURVE_COLUMNS.index("seed")]
"""The columns that say what was run (dataset, model, strategy, posterior, ...): every column
before ``seed`` in the schema. Those a CSV lacks are left out of its identity."""
REQUIRED = ["dataset", "model", "strategy", "seed", "round", "n_labeled"]
NOT_METRICS = {*IDENTITY, "seed", "round", "n_labeled"}
EMPTY_LAST_QUERY = "query_seconds"
"""The last row of a finished run trains and evaluates but selects nothing: its query time is
not a measurement, and is read as missing (NaN) rather than 0."""
MISSING = "n/a"
"""The value of a ``--group-by`` key that a run does not have."""
UNSET = "unset"
"""The value of a config key that one run's config has and another's lacks."""
STRATEGY_NODES = ("strategy", "posterior", "acquisition", "selection")
"""Config nodes (and CSV columns, with ``posterior_samples``) that say how a line queries;
every other setting must match for two lines to be paired against each other."""


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
    config_id: str | None = None
    """``run.json["config_hash"]``, else ``config_id(run.json["config"])``; None without them."""
    settings: dict[str, str] | None = None
    """The flattened config without ``identity.NOT_IDENTITY`` and the seed (``trainer.lr ->
    '0.01'``); None without."""

    @property
    def partial(self) -> bool:
        """A run that has not finished (still running, or failed): its curve may be short."""
        return self.status not in ("finished", "unknown")


@dataclass
class Line:
    """Runs averaged together: one experiment over seeds, on one ``n_labeled`` grid."""

    identity: dict[str, str]
    """The CSV's identity columns and any ``--group-by`` keys."""
    runs: list[Run]
    grid_split: bool = False
    """True when runs of this identity had other grids too (kept apart as other lines)."""
    label: str = field(default="", compare=False)
    details: list[str] = field(default_factory=list, compare=False)
    """What tells this line apart from others of its strategy (``trainer.lr=0.01``)."""
    config_id: str | None = None
    """The runs' config id; None when grouped by columns (no run.json, or ``--group-by``)."""
    merged_over: list[str] = field(default_factory=list)
    """With ``--group-by``: the config keys whose values differ between this line's runs."""

    @property
    def settings(self) -> dict[str, str]:
        """The flattened config of a line grouped by config id, else its identity columns."""
        settings = self.runs[0].settings
        return settings if self.by_config and settings is not None else self.identity

    @property
    def by_config(self) -> bool:
        return bool(self.config_id) and self.runs[0].settings is not None

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
    """Every ``learning_curve.csv`` below each path (or the path itself), each once, sorted;
    none from hidden folders below it."""
    found: dict[Path, None] = {}
    for path in paths:
        if not path.exists():
            raise PlotError(f"{path} does not exist; give a results folder or a {CURVE_FILE}")
        if path.is_file():
            if path.name != CURVE_FILE:
                raise PlotError(f"{path} is not a {CURVE_FILE}; give a folder or such a file")
            curves = [path]
        else:
            curves = sorted(
                p for p in path.rglob(CURVE_FILE) if p.is_file() and not in_hidden(p, path)
            )
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
    """A config value as a line's label shows it (mappings in lists in key order)."""
    return as_text(value, sort_keys=True)


def flat_settings(config: dict[str, Any]) -> dict[str, str]:
    """Every leaf of a config but those that never change results and the seed, dotted, its
    value as a label: what tells one line's settings from another's."""
    rest = {k: v for k, v in identity_of(config).items() if k != "seed"}
    return flatten(rest, as_label)


def config_id(config: dict[str, Any]) -> str:
    """The folder hash (``identity.identity_hash``) of a run.json's config: the id of a
    run.json that has no ``config_hash`` (older runs)."""
    return identity_hash(identity_of(config))


def run_config(info: dict[str, Any] | None) -> tuple[str | None, dict[str, str] | None]:
    """A run's config id and flattened settings from its run.json (None, None without)."""
    config = info.get("config") if info else None
    config = config if isinstance(config, dict) else None
    given = info.get("config_hash") if info else None
    if isinstance(given, str) and given:
        cid = given
    else:
        cid = config_id(config) if config is not None else None
    return cid, flat_settings(config) if config is not None else None


def numeric(table: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float, copy=True)
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
    cid, settings = run_config(info)
    run = Run(
        path=path,
        identity=identity,
        seed=seed,
        n_labeled=n_labeled,
        rounds=numeric(table, "round"),
        values=numeric(table, metric),
        status=str(info.get("status", "unknown")) if info else "unknown",
        config_id=cid,
        settings=settings,
    )
    if metric == EMPTY_LAST_QUERY and not run.partial:
        run.values[-1] = np.nan  # a finished run's last round selects nothing
    return run


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


def group_lines(runs: list[Run], warn: Callable[[str], None], by_config: bool = True) -> list[Line]:
    """One line per experiment and ``n_labeled`` grid: the runs that differ only in their seed.

    ``by_config``: runs with a config id are grouped by it (and their identity columns); runs
    without one by their identity columns. ``by_config=False`` (``--group-by``) groups by the
    identity columns alone, merging runs that differ in other settings; each line lists them
    in ``merged_over``. Runs of one group whose grids differ (another budget, or a run cut
    short) are never averaged together: each grid becomes its own line, with a warning.
    """
    groups: dict[tuple, dict[tuple, list[Run]]] = {}
    for run in runs:
        key = (tuple(run.identity.items()), run.config_id if by_config else None)
        grids = groups.setdefault(key, {})
        grids.setdefault(tuple(run.n_labeled.tolist()), []).append(run)
    lines = []
    for (identity, cid), grids in groups.items():
        name = describe_identity(dict(identity), cid)
        split = len(grids) > 1
        if split:
            parts = "; ".join(
                f"{describe_grid(r[0].n_labeled)}: {len(r)} run(s)"
                + (f", {sum(x.partial for x in r)} partial" if any(x.partial for x in r) else "")
                for r in grids.values()
            )
            warn(f"{name}: runs have different n_labeled grids, kept apart ({parts})")
        for members in grids.values():
            seeds = [r.seed for r in members]
            repeated = sorted({s for s in seeds if seeds.count(s) > 1})
            if repeated:
                warn(
                    f"{name}: seed(s) {', '.join(repeated)} appear in more than one run; each "
                    f"run counts as a seed in the mean and none of them is paired"
                )
            merged = [] if by_config else differing_keys([r.settings for r in members])
            lines.append(Line(dict(identity), members, split, config_id=cid, merged_over=merged))
    return lines


def differing_keys(settings: list[dict[str, str] | None]) -> list[str]:
    """The keys whose values differ between these settings (a missing key counts as a value);
    settings that are None (no run.json) are left out."""
    known = [s for s in settings if s is not None]
    keys = dict.fromkeys(k for s in known for k in s)
    return [k for k in keys if len({s.get(k, UNSET) for s in known}) > 1]


def describe_identity(identity: dict[str, str], cid: str | None = None) -> str:
    rest = [f"{k}={v}" for k, v in identity.items() if k not in ("dataset", "model", "strategy")]
    if cid:
        rest.append(f"config {cid}")
    head = f"{identity['strategy']} on {identity['dataset']}/{identity['model']}"
    return f"{head} ({', '.join(rest)})" if rest else head


def name_lines(lines: list[Line]) -> None:
    """Give each line its name: the strategy, plus what tells it apart from the other lines of
    the same strategy on the same dataset and model (``random (trainer.lr=0.01)``).

    Lines grouped by config are told apart by the config keys whose values differ between them;
    lines grouped by columns by the identity columns and ``--group-by`` keys that differ. Then
    come the grid where runs of one group had several, and, for names still shared, the config
    id (``config 1a2b3c4d``, say for runs of other code versions with the same settings).
    """
    family: dict[tuple[str, str, str], list[Line]] = {}
    for line in lines:
        i = line.identity
        family.setdefault((i["dataset"], i["model"], i["strategy"]), []).append(line)
    for members in family.values():
        configured = [m for m in members if m.by_config]
        by_columns = [m for m in members if not m.by_config]
        config_keys = differing_keys([m.settings for m in configured])
        column_keys = [
            k
            for k in differing_keys([m.identity for m in by_columns])
            if k not in ("dataset", "model", "strategy")
        ]
        for line in members:
            if line.by_config:
                details = [f"{k}={line.settings.get(k, UNSET)}" for k in config_keys]
            else:
                details = [f"{k}={line.identity.get(k, MISSING)}" for k in column_keys]
                if configured:
                    details.append("no config in run.json" if line.config_id else "no run.json")
            if line.grid_split:
                details.append(f"n_labeled {describe_grid(line.n_labeled)}")
            line.details = details
        names = [tuple(m.details) for m in members]
        for line, name in zip(members, names, strict=True):
            if names.count(name) > 1 and line.config_id:
                line.details.append(f"config {line.config_id}")
            strategy = line.identity["strategy"]
            line.label = strategy + (f" ({', '.join(line.details)})" if line.details else "")
