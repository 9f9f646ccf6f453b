"""al from Python (a notebook, a script): run an experiment, read results as DataFrames.

``run`` is ``al run`` in this process: the same configs and overrides, the same run folder
(a finished run is skipped, an unfinished one resumed) and files, and the same checks, whose
refusal is a :class:`~al_cli.errors.UserError` with the one-line message. Because it runs in
this process, a strategy, model or data loader defined in a notebook can be named as
``_target_=__main__.Name``. ``load_runs`` reads what ``al plot`` reads, as one tidy table;
``load_split`` the data a run reads, in its order (to compute features for
``representation=file``).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from al_cli.console import handlers
from al_cli.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from al_cli.data import DataSplit


def run(*overrides: str, quiet: bool = False) -> pd.DataFrame:
    """Run one experiment as ``al run OVERRIDES`` would, and return its learning curve.

    One row per round, the columns of ``learning_curve.csv``; ``curve.attrs["run_dir"]`` is
    the run folder. Round lines are printed unless ``quiet`` (or unless logging is already
    set up to show them). Raises UserError, with al run's one-line message, for a mistake in
    the overrides or a run that cannot go on; KeyboardInterrupt stops after saving, and the
    same call resumes.
    """
    import pandas as pd
    import torch
    from hydra import compose, initialize_config_module
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict, read_write

    import al_cli.resolvers  # noqa: F401  (the resolvers that name the run folder)
    from al_cli.cli import composition_error
    from al_cli.experiment import run_experiment

    try:
        with initialize_config_module(config_module="al_cli.configs", version_base="1.3"):
            cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    except Exception as err:
        line = composition_error(err)
        if line is None:
            raise
        raise UserError(line) from None
    out_dir = Path(str(cfg.hydra.run.dir))
    hydra_config, threads = HydraConfig.instance().cfg, torch.get_num_threads()
    HydraConfig.instance().set_config(cfg)
    task = cfg.copy()
    with read_write(task), open_dict(task):
        del task["hydra"]
    try:
        with round_lines(quiet):
            run_experiment(task, out_dir)
    finally:
        HydraConfig.instance().cfg = hydra_config
        torch.set_num_threads(threads)
    curve = pd.read_csv(out_dir / "learning_curve.csv")
    curve.attrs["run_dir"] = out_dir
    return curve


@contextlib.contextmanager
def round_lines(quiet: bool) -> Iterator[None]:
    """al's log lines on standard output and its warnings on standard error, as ``al run``
    prints them, unless quiet or logging already shows them."""
    log = logging.getLogger("al")
    if quiet or log.hasHandlers():
        yield
        return
    console = handlers(logging.Formatter("%(message)s"))
    level = log.level
    for handler in console:
        log.addHandler(handler)
    log.setLevel(min(log.getEffectiveLevel(), logging.INFO))
    try:
        yield
    finally:
        for handler in console:
            log.removeHandler(handler)
        log.setLevel(level)


def load_split(*overrides: str) -> DataSplit:
    """The data set ``al run OVERRIDES`` would read, split into pool and test as a run splits
    it: ``pool_x`` and ``test_x`` in the rows' order (normalised as the model sees them), which
    is the order ``representation=file`` expects its ``pool`` and ``test`` features in."""
    from hydra import compose, initialize_config_module

    from al_cli.cli import composition_error
    from al_cli.data import load_dataset

    try:
        with initialize_config_module(config_module="al_cli.configs", version_base="1.3"):
            cfg = compose("config", overrides=list(overrides))
    except Exception as err:
        line = composition_error(err)
        if line is None:
            raise
        raise UserError(line) from None
    return load_dataset(cfg.dataset)


def load_runs(*paths: str | Path, settings: bool = False) -> pd.DataFrame:
    """Every run below ``paths`` (folders, or learning_curve.csv files), as one tidy table:
    one row per run and round, with the columns of learning_curve.csv (numbers as numbers),
    ``run_dir``, ``status`` (``finished``, ``running``, ``failed``, ``interrupted``;
    ``unknown`` without a run.json) and ``config_id`` (what ``al plot`` draws as one line,
    with its seeds). ``settings=True`` adds every config key of run.json as a column
    (``trainer.lr``). Files that cannot be read are skipped with a warning, as in ``al plot``.
    """
    import pandas as pd

    from al_cli.plot import PlotError
    from al_cli.plot.runs import (
        BadCurve,
        config_keys,
        config_value,
        find_curves,
        read_info,
        read_table,
        run_config,
    )

    try:
        curves = find_curves([Path(p) for p in paths or (".",)])
    except PlotError as err:
        raise UserError(str(err)) from None
    frames = []
    for path in curves:
        try:
            table = read_table(path)
        except BadCurve as err:
            warnings.warn(f"{path}: {err}; skipped", stacklevel=2)
            continue
        info, problem = read_info(path)
        if problem:
            warnings.warn(problem, stacklevel=2)
        table = numbers(table)
        table["run_dir"] = str(path.parent)
        table["status"] = str(info.get("status", "unknown")) if info else "unknown"
        table["config_id"] = run_config(info)[0]
        config = info.get("config") if info else None
        if settings and isinstance(config, dict):
            for key in config_keys(config):
                if key not in table.columns:
                    table[key] = [config_value(config, key)] * len(table)
        frames.append(table)
    if not frames:
        raise UserError(f"no readable learning_curve.csv below {', '.join(map(str, paths))}")
    return pd.concat(frames, ignore_index=True, sort=False)


def numbers(table: pd.DataFrame) -> pd.DataFrame:
    """The columns whose every non-empty value is a number, as numbers (empty: NaN)."""
    import pandas as pd

    out = table.copy()
    for column in out.columns:
        values = pd.to_numeric(out[column], errors="coerce")
        if values.notna().sum() == (out[column] != "").sum() and values.notna().any():
            out[column] = values
    return out
