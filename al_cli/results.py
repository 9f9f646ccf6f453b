"""What a run leaves behind: checkpoint.pt, learning_curve.csv, queries.csv and run.json.

Every file is rewritten whole through a temporary file, fsync and rename, so a reader (or a
crash) never sees a torn row: a row exists only once its round is complete. The checkpoint is
the record a run resumes from and is written first; the CSVs are views of it.
"""

from __future__ import annotations

import io
import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from al_cli.config import not_identity_keys
from al_cli.errors import UserError
from al_cli.files import (  # noqa: F401  (re-exported for callers of results)
    CURVE_COLUMNS,
    QUERY_COLUMNS,
    atomic_write_bytes,
    atomic_write_text,
    csv_text,
)
from al_cli.identity import NOT_IDENTITY, flatten, identity_hash

VERSIONED_PACKAGES = [
    "al-cli",
    "torch",
    "torchvision",
    "numpy",
    "hydra-core",
    "omegaconf",
    "scikit-learn",
]


CHECKPOINT = "checkpoint.pt"


class ResultsNotWritable(UserError):
    """The run folder cannot be written (read-only, full, gone)."""


def identity_config(cfg: DictConfig) -> dict[str, Any]:
    """Every setting that changes a run's results, resolved: what a checkpoint must match.

    Works on the task's config and on the root config with its ``hydra`` node (as the folder
    name resolver sees it): each kept key is resolved on its own, never ``hydra.*``. A group
    that the root schema marks as ``added`` stays out while it holds its old behaviour
    (``representation=none``).
    """
    out: dict[str, Any] = {}
    left_out = not_identity_keys(cfg)  # groups added later, at their old behaviour
    for key in cfg:
        if key in NOT_IDENTITY or key in left_out:
            continue
        node = cfg[key]
        if not OmegaConf.is_config(node):
            out[str(key)] = node
            continue
        skip = not_identity_keys(node)
        value = OmegaConf.to_container(node, resolve=True)
        out[str(key)] = {k: v for k, v in value.items() if k not in skip}
    return out


def config_hash(cfg: DictConfig) -> str:
    """Eight hex digits naming a config apart from its seed (which the folder names itself)."""
    return identity_hash(identity_config(cfg))


def leaves(config: dict[str, Any]) -> dict[str, Any]:
    """``identity.flatten``'s leaves without empty mappings: a key that holds nothing is no
    setting, so ``{}`` against ``{"x": 1}`` differs in ``x``, not in the mapping."""
    return {k: v for k, v in flatten(config).items() if v != {}}


def config_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first setting that differs, as ``key is A there and B here``; None when equal."""
    a, b = leaves(old), leaves(new)
    for key in sorted(set(a) | set(b)):
        if a.get(key, "<unset>") != b.get(key, "<unset>"):
            return f"{key} is {a.get(key, '<unset>')!r} there and {b.get(key, '<unset>')!r} here"
    return None


def plain(value: Any) -> Any:
    """Only JSON types (no numpy scalars), so a checkpoint loads with ``weights_only``."""
    return json.loads(json.dumps(value))


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


CHECKPOINT_KEYS = {
    "identity": dict,
    "config": dict,
    "curve": list,
    "queries": list,
    "next_round": int,
    "finished": bool,
    "labeled": list,
    "labels": list,
    "rounds": list,
}
"""What every checkpoint holds, by type (``Recorder.record`` and the loop's state); later
versions add keys (``posterior``, ``data_fingerprint``), never take one away."""


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint at ``path``, or None when there is none; one clear line for a file that
    is not one (corrupt, truncated, empty, or another object saved under its name)."""
    import torch

    if not Path(path).exists():
        return None
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        problem = checkpoint_problem(checkpoint)
        if problem is not None:
            raise ValueError(problem)
    except Exception as err:
        raise UserError(
            f"cannot read the checkpoint {path} ({type(err).__name__}: "
            f"{' '.join(str(err).split())}); rerun with resume=false to start this run over"
        ) from None
    return checkpoint


def checkpoint_problem(checkpoint: Any) -> str | None:
    """Why ``checkpoint`` is not the shape of an al checkpoint, or None when it is."""
    if not isinstance(checkpoint, dict):
        return f"it holds a {type(checkpoint).__name__}, not an al checkpoint"
    for key, kind in CHECKPOINT_KEYS.items():
        if key not in checkpoint:
            return f"it has no {key!r}: not an al checkpoint"
        if not isinstance(checkpoint[key], kind):
            return f"its {key!r} is a {type(checkpoint[key]).__name__}, not a {kind.__name__}"
    return None


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


class Recorder:
    """Keeps a run's rows and rewrites its files after every completed round.

    ``record`` writes the checkpoint first and the CSVs after it, so the CSVs never hold a
    round that the checkpoint lacks; a resumed run rewrites them from the checkpoint.
    """

    def __init__(
        self,
        out_dir: Path,
        config: dict[str, Any],
        extra: dict[str, Any],
        identity: dict[str, Any] | None = None,
        columns: list[str] = CURVE_COLUMNS,
        data_fingerprint: str | None = None,
    ):
        """``identity``: the settings a checkpoint must match (``identity_config``);
        ``columns``: those of learning_curve.csv (the schema's, then any diagnostics);
        ``data_fingerprint``: the data's content (``DataSplit.fingerprint``), saved in every
        checkpoint and compared when the run is resumed or skipped."""
        self.out_dir = Path(out_dir)
        self.columns = list(columns)
        self.config = plain(config)
        self.identity = plain(identity or {})
        self.data_fingerprint = data_fingerprint
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
        self.listeners: list[Any] = []
        """Told of every saved round (``recorded(row)``) and of the end (``finished(status,
        out_dir)``), after the files are written: the experiment trackers."""

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT

    def restore(self, checkpoint: dict[str, Any]) -> None:
        """Continue from a checkpoint: its rows become this run's first rows."""
        self.curve = list(checkpoint["curve"])
        self.queries = list(checkpoint["queries"])
        self.info["resumed_at_round"] = checkpoint["next_round"]

    def start(self) -> None:
        """Make the folder and write run.json; a fresh run first removes an older run's files,
        the CSVs before the checkpoint (CSVs without a checkpoint are never left behind)."""
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if not self.curve:
                for name in ("learning_curve.csv", "queries.csv", CHECKPOINT):
                    (self.out_dir / name).unlink(missing_ok=True)
        except OSError as err:
            raise self._not_writable(err) from None
        if self.curve:
            self.write_csvs()
        self._write_info()

    def record(
        self, row: dict[str, Any], queries: list[dict[str, Any]], state: dict[str, Any]
    ) -> None:
        """Add one completed round and its queries: checkpoint first, then both CSVs.

        ``state`` is what the loop needs to continue after this round (pool, next round, model).
        """
        self.curve.append(plain(row))
        self.queries.extend(plain(queries))
        checkpoint = {
            "identity": self.identity,
            "config": self.config,
            "curve": self.curve,
            "queries": self.queries,
            **state,
        }
        if self.data_fingerprint is not None:
            checkpoint["data_fingerprint"] = self.data_fingerprint
        self._guarded(save_checkpoint, self.checkpoint_path, checkpoint)
        self.write_csvs()
        for listener in self.listeners:
            listener.recorded(self.curve[-1])

    def finish(self, status: str, error: str | None = None) -> None:
        """Mark the run's end in run.json; after a failure, a second failure to write is ignored."""
        self.info["status"] = status
        self.info["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.info["rounds"] = len(self.curve)
        if error is not None:
            self.info["error"] = error
        try:
            self._write_info()
        except ResultsNotWritable:
            if status == "finished":
                raise
        for listener in self.listeners:
            listener.finished(status, self.out_dir)

    def write_csvs(self) -> None:
        """learning_curve.csv and queries.csv from the rows held (each replaced whole)."""
        self._guarded(
            atomic_write_text, self.out_dir / "queries.csv", csv_text(self.queries, QUERY_COLUMNS)
        )
        self._guarded(
            atomic_write_text,
            self.out_dir / "learning_curve.csv",
            csv_text(self.curve, self.columns),
        )

    def _write_info(self) -> None:
        text = json.dumps(self.info, indent=2) + "\n"
        self._guarded(atomic_write_text, self.out_dir / "run.json", text)

    def _guarded(self, write: Any, path: Path, data: Any) -> None:
        try:
            write(path, data)
        except OSError as err:
            raise self._not_writable(err) from None

    def _not_writable(self, err: OSError) -> ResultsNotWritable:
        return ResultsNotWritable(
            f"cannot write the run folder {self.out_dir} ({err.strerror or err}); free space "
            f"or make it writable (or set paths.results_dir), then rerun the same command: it "
            f"resumes from the last saved round"
        )
