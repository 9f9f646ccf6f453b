"""What a run leaves behind: learning_curve.csv, queries.csv and run.json, written atomically.

Every file is rewritten whole through a temporary file, fsync and rename, so a reader (or a
crash) never sees a torn row: a row exists only once its round is complete.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import sys
import tempfile
import time
from importlib import metadata
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
    "train_seconds",
    "query_seconds",
    "eval_seconds",
]
"""Identity columns, then metrics; every timing column, and only those, ends in ``_seconds``."""

QUERY_COLUMNS = ["round", "pool_index", "label"]
"""``round``: the first round whose training set includes the label (0: the initial set).
Written with the row of the round that chose it, so the file holds every revealed label."""

_UMASK = os.umask(0o022)
os.umask(_UMASK)

VERSIONED_PACKAGES = ["al-cli", "torch", "numpy", "hydra-core", "omegaconf", "scikit-learn"]


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step: temporary file, fsync, rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
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


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


class Recorder:
    """Keeps a run's rows and rewrites its files after every completed round."""

    def __init__(self, out_dir: Path, config: dict[str, Any], extra: dict[str, Any]):
        self.out_dir = Path(out_dir)
        self.curve: list[dict[str, Any]] = []
        self.queries: list[dict[str, Any]] = []
        self.info: dict[str, Any] = {
            "status": "running",
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": sys.argv,
            "config": config,
            "versions": package_versions(),
            **extra,
        }

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._write_info()

    def record(self, row: dict[str, Any], queries: list[dict[str, Any]]) -> None:
        """Add one completed round and its queries, then rewrite both CSVs."""
        self.curve.append(row)
        self.queries.extend(queries)
        atomic_write_text(self.out_dir / "queries.csv", csv_text(self.queries, QUERY_COLUMNS))
        atomic_write_text(self.out_dir / "learning_curve.csv", csv_text(self.curve, CURVE_COLUMNS))

    def finish(self, status: str, error: str | None = None) -> None:
        self.info["status"] = status
        self.info["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.info["rounds"] = len(self.curve)
        if error is not None:
            self.info["error"] = error
        self._write_info()

    def _write_info(self) -> None:
        atomic_write_text(self.out_dir / "run.json", json.dumps(self.info, indent=2) + "\n")
