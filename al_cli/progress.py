"""Progress bars for the long steps of a round: training epochs, inference passes over the
pool, greedy batch selection.

A bar is drawn on standard error only when it is a terminal and the console shows al's log
lines (not under ``hydra/job_logging=disabled``), and only once its step has taken ``DELAY``
seconds, so short steps draw nothing. tqdm's own variables apply: ``TQDM_DELAY=0`` draws every
bar at once, ``TQDM_DISABLE=1`` none. Bars never reach a log file or a CSV: they are not
logged, and a sweep's jobs (joblib workers, submitit jobs) have no terminal.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

DELAY = 1.0
"""Seconds a step runs before its bar appears."""


def shown() -> bool:
    """Whether bars are drawn: standard error is a terminal and the console is not quiet."""
    isatty = getattr(sys.stderr, "isatty", None)
    if not (isatty and isatty()):
        return False
    root = logging.getLogger()
    return root.getEffectiveLevel() <= logging.INFO and bool(root.handlers)


def progress(
    items: Iterable[T], desc: str, unit: str = "it", total: int | None = None
) -> Iterable[T]:
    """``items``, with a transient bar while they are consumed (see module docstring)."""
    if not shown():
        return items
    from tqdm import tqdm

    delay = {} if "TQDM_DELAY" in os.environ else {"delay": DELAY}  # tqdm's own variable wins
    return tqdm(items, desc=desc, unit=unit, total=total, leave=False, **delay)


def steps(n: int, desc: str, unit: str = "it") -> Iterator[int]:
    """``range(n)`` with a bar."""
    yield from progress(range(n), desc, unit, total=n)


class AboveBars(logging.Handler):
    """A console handler whose lines are written above the bars (through tqdm), each on the
    handler's own stream and only at its own level and filters: tqdm's
    ``logging_redirect_tqdm`` would merge stdout's and stderr's handlers into one."""

    def __init__(self, console: logging.StreamHandler) -> None:
        super().__init__(console.level)
        self.console = console
        self.filters = console.filters

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        with tqdm.external_write_mode(file=self.console.stream):
            self.console.handle(record)


def is_console(handler: logging.Handler) -> bool:
    """Whether ``handler`` writes to the process's standard output or error."""
    return (
        isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
        and handler.stream in (sys.stdout, sys.stderr)
    )


@contextlib.contextmanager
def lines_above_bars() -> Iterator[None]:
    """While bars are shown, the console's log lines are printed above them, not through them;
    otherwise logging is left as it is."""
    root = logging.getLogger()
    if not shown():
        yield
        return
    handlers = root.handlers[:]
    root.handlers = [AboveBars(h) if is_console(h) else h for h in handlers]
    try:
        yield
    finally:
        root.handlers = handlers
