"""The files a run writes: their columns, and how they are written (whole, atomically).

Standard library only: ``al plot`` reads and writes through this without importing torch
or Hydra.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path
from typing import Any

CURVE_COLUMNS = [
    "dataset",
    "model",
    "strategy",
    "posterior",
    "posterior_samples",
    "acquisition",
    "selection",
    "seed",
    "round",
    "n_labeled",
    "test_accuracy",
    "test_nll",
    "test_ece",
    "train_loss",
    "train_steps",
    "train_seconds",
    "query_seconds",
    "eval_seconds",
]
"""Identity columns, then metrics, then how the round's networks trained (``train_loss``:
final-epoch cross-entropy on the labeled set; ``train_steps``: optimiser steps per network;
both averaged over the networks trained, empty where a posterior trains otherwise). Every
timing column, and only those, ends in ``_seconds``. A strategy's declared diagnostics (e.g.
``coreset_radius``) follow as extra columns, empty in the last round, which selects nothing."""

VALIDATION_COLUMNS = ["val_accuracy", "val_nll"]
"""With a validation set (``dataset.val_size`` > 0), these follow ``CURVE_COLUMNS``: the
round's prediction scored on it. A curve without them (no validation set, or written before
they existed) plots as before; ``al plot --metric val_accuracy`` skips it with a warning."""

QUERY_COLUMNS = ["round", "pool_index", "label", "score"]
"""``round``: the first round whose training set includes the label (0: the initial set).
``score``: what the strategy chose the input by (empty for the initial set and for strategies
that score nothing). Written with the row of the round that chose it, so the file holds every
revealed label."""

_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: temporary file, fsync, rename."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step: temporary file, fsync, rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def csv_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def in_hidden(path: Path, root: Path) -> bool:
    """Whether ``path`` lies in a hidden folder below ``root`` (``.mlflow/``, where MLflow
    keeps copies of the runs' files as artifacts): such copies are not runs of their own."""
    return any(part.startswith(".") for part in path.relative_to(root).parts[:-1])


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist yet, deepest first: what making it makes."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def remove_empty(folders: list[Path]) -> None:
    """Remove those of ``folders`` (deepest first) that are empty: what a failed or refused
    step made and left with nothing in it. One that was never made is passed over; one that
    holds something stays, and so do the folders above it."""
    for folder in folders:
        try:
            folder.rmdir()
        except FileNotFoundError:
            continue
        except OSError:
            return
