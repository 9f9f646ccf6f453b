"""The run folder itself: where it may be made, one process at a time, no stale temporaries.

Kept light (no torch): :class:`RunFolderCheck`, a Hydra callback named in configs/config.yaml,
refuses an unusable results folder before Hydra makes any folder; :func:`run_folder_lock` keeps
a second ``al run`` out of a folder while a first one works in it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from al_cli.config import NAME_MAX
from al_cli.errors import UserError, refuse, user_error_in

LOCK = ".al-run.lock"
"""Held (``flock``) by the process working in a run folder, removed when it ends."""


def check_results_dir(value: Any) -> None:
    """``paths.results_dir`` must name a folder: an empty one would put runs at the root."""
    if value is None or not str(value).strip():
        raise UserError(
            "paths.results_dir is empty; name the folder runs are written under "
            "(paths.results_dir=results by default)"
        )


def name_max(folder: str | Path) -> int:
    """The bytes one folder name may take below ``folder``: what ``os.pathconf`` says for the
    file system of its nearest existing ancestor (where folders will be made), else
    ``NAME_MAX``."""
    probe = Path(folder).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        limit = os.pathconf(probe, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf here, or no limit known
        return NAME_MAX
    return limit if limit > 0 else NAME_MAX


def check_folder(folder: str | Path, what: str = "run folder") -> None:
    """Refuse, before anything is made, a folder that cannot be made or written: a part of its
    path that is a file, or a read-only folder."""
    path = Path(folder)
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(
            f"cannot make the {what} {path}: {probe} is a file; point paths.results_dir "
            f"(or hydra.run.dir) at a folder"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(
            f"cannot write the {what} {path}: {probe} is read-only; make it writable or "
            f"point paths.results_dir (or hydra.run.dir) at a folder you can write"
        )


class RunFolderCheck(Callback):
    """Refuses an empty, file or read-only results folder, and an option name that cannot name
    a folder, in one line (exit 2) before Hydra makes the run or sweep folder."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir", "run folder")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir", "sweep folder")

    def _check(self, config: DictConfig, key: str, what: str) -> None:
        try:
            check_results_dir(config.paths.results_dir)
            check_folder(str(OmegaConf.select(config, key)), what)
        except Exception as err:
            error = user_error_in(err)
            if error is None:
                raise
            # outside any task function, so not a UserError: Hydra would print a traceback
            refuse("al run", error)


@contextlib.contextmanager
def run_folder_lock(out_dir: Path) -> Iterator[None]:
    """Hold the run folder for this process: a second ``al run`` into it meanwhile is refused
    in one line (it does not wait). An advisory ``flock`` on ``.al-run.lock``, which names the
    holder and is removed at the end; the kernel releases it when a process dies, so a killed
    run never blocks the next. A file system without locks runs unlocked, with a warning."""
    path = Path(out_dir) / LOCK
    with holding(path, _locked_file(path), f"pid {os.getpid()} on {socket.gethostname()}"):
        yield


@contextlib.contextmanager
def holding(path: Path, fd: int | None, holder: str) -> Iterator[None]:
    """While the lock ``fd`` on ``path`` is held, the file names its ``holder``; on the way
    out the file is removed and the lock released (None: a file system without locks)."""
    try:
        if fd is not None:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{holder}\n".encode(), 0)
        yield
    finally:
        if fd is not None:
            with contextlib.suppress(OSError):
                path.unlink()
            os.close(fd)


def _locked_file(path: Path) -> int | None:
    """A descriptor of ``path`` holding its exclusive lock; None where locks do not work."""
    try:
        return exclusive_lock(path, wait=False)
    except BlockingIOError as err:
        raise UserError(
            f"another al run ({err.strerror or 'starting'}) is working in the run folder "
            f"{path.parent}; wait until it ends, then rerun the same command (a finished "
            f"run is skipped, an unfinished one resumes)"
        ) from None
    except OSError as err:
        raise UserError(
            f"cannot write the run folder {path.parent} ({err.strerror or err}); make it "
            f"writable or point paths.results_dir (or hydra.run.dir) elsewhere"
        ) from None


def exclusive_lock(path: Path, wait: bool) -> int | None:
    """A descriptor of ``path`` (made with its folder if need be) holding its exclusive
    ``flock``: the run folder's lock, and the representation cache's. ``wait``: block until
    another holder lets go, else raise ``BlockingIOError`` whose ``strerror`` is the text the
    holder wrote into the file. A holder that removes the file as it lets go (as
    ``run_folder_lock`` does) is safe: the lock is taken again on the file now there. None,
    with a warning, on a file system without locks; ``OSError`` when it cannot be made."""
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as err:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            os.close(fd)
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                logging.getLogger("al").warning(
                    f"al run: warning: cannot lock {path} ({err.strerror}); running unlocked, so "
                    f"start no second run that writes there meanwhile"
                )
                return None
            raise BlockingIOError(err.errno, holder) from None
        if _same_file(fd, path):
            return fd
        os.close(fd)  # its holder removed it after we opened it: lock the one there now


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), path.stat())
    except OSError:
        return False


def remove_stale_temporaries(out_dir: Path) -> list[Path]:
    """Remove what a write cut short left behind: the ``.NAME.*.tmp`` files of the atomic
    writes (``files.atomic_write_bytes``), in the run folder and its ``.hydra/``. Call it only
    while holding the folder's lock, so that no live write loses its file."""
    removed = []
    for folder in (Path(out_dir), Path(out_dir) / ".hydra"):
        for tmp in folder.glob(".*.tmp"):
            if tmp.is_file() and not tmp.is_symlink():
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                    removed.append(tmp)
    return removed
