"""The console's two streams, and run.log.

al's lines (the run folder, one per round, how it ended) go to standard output; warnings and
errors to standard error, so that a script reading a run's output never gets a warning in it.
``configs/hydra/job_logging/console.yaml`` (and ``hydra_logging/console.yaml``) build these
handlers for ``al run``, :func:`handlers` for the Python API. A warning logged before the run
folder is accepted (the folder lock, the data, the trackers) is held by :func:`held_warnings`
and written to run.log when it opens (:func:`replay_held`); :func:`log_file` keeps run.log open
while the run goes on.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

from al_cli.errors import UserError

log = logging.getLogger("al")
"""Every line ``al run`` prints: to the console (Hydra's job logging) and to ``run.log``."""
LOG_FILE = "run.log"


class BelowWarning(logging.Filter):
    """Lets through only records below WARNING: the stdout handler's half of the split."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


def handlers(formatter: logging.Formatter) -> list[logging.Handler]:
    """A stdout handler for records below WARNING and a stderr one for the rest."""
    out = logging.StreamHandler(sys.stdout)
    out.addFilter(BelowWarning())
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.WARNING)
    for handler in (out, err):
        handler.setFormatter(formatter)
    return [out, err]


class HeldWarnings(logging.Handler):
    """Keeps the warnings logged before run.log exists, for :func:`replay_held`."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def held_warnings(logger: logging.Logger) -> Iterator[None]:
    """Hold ``logger``'s warnings while a run goes on, so that run.log gets those logged
    before it opened. Under ``hydra/job_logging=disabled`` (the logger disabled, the root at
    ERROR) the logger lets warnings through meanwhile, to this holder only: the console stays
    quiet and run.log complete."""
    held = HeldWarnings()
    disabled, level = logger.disabled, logger.level
    logger.disabled = False
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    logger.addHandler(held)
    try:
        yield
    finally:
        logger.removeHandler(held)
        logger.disabled = disabled
        logger.setLevel(level)


def replay_held(logger: logging.Logger, into: logging.Handler) -> None:
    """Write the warnings held for ``logger`` so far to ``into`` (run.log's handler), once."""
    for handler in logger.handlers:
        if isinstance(handler, HeldWarnings):
            for record in handler.records:
                into.handle(record)
            handler.records.clear()


@contextlib.contextmanager
def log_file(out_dir: Path) -> Iterator[None]:
    """Everything logged to ``al`` also goes to the run's ``run.log``, appended on resume,
    with the warnings logged before it opened (``main`` holds them)."""
    handler = logging.FileHandler(out_dir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    replay_held(log, handler)
    quiet = quiet_console(log)
    try:
        yield
    except BaseException as err:  # to the file only: the console gets al run's own last line
        message = str(err) if isinstance(err, UserError) else f"{type(err).__name__}: {err}"
        handler.emit(log.makeRecord("al", logging.ERROR, "", 0, f"al run: {message}", (), None))
        raise
    finally:
        log.removeHandler(handler)
        handler.close()
        quiet.close()


def quiet_console(logger: logging.Logger) -> contextlib.ExitStack:
    """Under ``hydra/job_logging=disabled`` (no console handler, root above INFO, existing
    loggers disabled), let ``logger`` through at INFO for run.log: its lines then reach no
    console. Close the returned stack to undo it."""
    stack = contextlib.ExitStack()
    disabled, level = logger.disabled, logger.level
    if logger.disabled or not logging.getLogger().handlers:
        logger.disabled = False
        logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
        stack.callback(setattr, logger, "disabled", disabled)
        stack.callback(logger.setLevel, level)
    return stack
