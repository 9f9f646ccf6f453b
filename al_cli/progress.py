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
from typing import Any, TypeVar

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


def lines_above_bars() -> contextlib.AbstractContextManager[Any]:
    """While bars are shown, the console's log lines are printed above them (through tqdm),
    not through them; otherwise logging is left as it is."""
    if not shown():
        return contextlib.nullcontext()
    from tqdm.contrib.logging import logging_redirect_tqdm

    return logging_redirect_tqdm([logging.getLogger()])
