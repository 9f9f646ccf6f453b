"""Representations kept on disk, one file per key, so that every run and sweep job that asks
for the same one computes it once.

A file is only ever replaced whole (temporary file, fsync, rename: ``files.atomic_write_bytes``),
so a reader sees a complete file or none; a file that is not the one expected (truncated by a
full disk, copied in part, another key's) is computed again, never read. The computation runs
under an exclusive lock on the key (``folders.exclusive_lock``): a second job waits for the
first and then reads its file. The kernel drops the lock of a killed job, and the next one
removes what its write left behind.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from al_cli.console import log
from al_cli.errors import UserError
from al_cli.files import atomic_write_bytes
from al_cli.folders import exclusive_lock, holding
from al_cli.representations.base import Features

FOLDER = "representations"
"""Below ``paths.cache_dir``: ``representations/<name>-<key>.npz``."""


def read(path: Path, key: dict[str, Any], rows: tuple[int, int]) -> Features | None:
    """The features in ``path`` when it is a complete cache file for ``key`` with ``rows``
    pool and test rows; None when there is none, and (with a warning) when it is not one."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            stored = json.loads(str(arrays["key"]))
            pool, test = arrays["pool"], arrays["test"]
        if stored != key:
            raise ValueError("it was written for other settings")
        for part, x, n in (("pool", pool, rows[0]), ("test", test, rows[1])):
            if x.ndim != 2 or len(x) != n or x.dtype != np.float32 or not np.isfinite(x).all():
                raise ValueError(f"its {part} array is {x.dtype} {x.shape}, not [{n}, D] float32")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        log.warning(
            f"al run: warning: the cached representation {path} is incomplete or not the one "
            f"expected ({type(err).__name__}: {' '.join(str(err).split())}); computing it again"
        )
        return None
    return Features(torch.from_numpy(pool), torch.from_numpy(test))


def write(path: Path, key: dict[str, Any], features: Features) -> None:
    """``path`` replaced whole by ``features`` and the ``key`` they were computed for."""
    buf = io.BytesIO()
    np.savez(
        buf,
        key=np.array(json.dumps(key, sort_keys=True)),
        pool=features.pool.detach().cpu().float().numpy(),
        test=features.test.detach().cpu().float().numpy(),
    )
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as err:
        raise not_writable(path, err) from None


def not_writable(path: Path, err: OSError) -> UserError:
    return UserError(
        f"cannot write the representation cache {path.parent} ({err.strerror or err}); make "
        f"it writable or set paths.cache_dir to a folder you can write"
    )


@contextlib.contextmanager
def key_lock(path: Path) -> Iterator[None]:
    """Hold ``path``'s lock (``.<name>.lock`` beside it), waiting while another job holds it;
    removed on the way out, as the run folder's is."""
    lock = path.with_name(f".{path.name}.lock")
    try:
        fd = exclusive_lock(lock, wait=True)
    except OSError as err:
        raise not_writable(path, err) from None
    with holding(lock, fd, f"pid {os.getpid()}"):
        yield


def remove_temporaries(path: Path) -> None:
    """What a killed write of ``path`` left behind (``.<name>.*.tmp``); only under its lock."""
    for tmp in path.parent.glob(f"{glob.escape(f'.{path.name}.')}*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def cached(
    path: Path, key: dict[str, Any], rows: tuple[int, int], compute: Callable[[], Features]
) -> tuple[Features, bool]:
    """The features of ``key`` from ``path``, computed (once, whoever asks at the same time)
    and stored when it holds none; and whether they were found there."""
    found = read(path, key, rows)
    if found is not None:
        return found, True
    with key_lock(path):
        found = read(path, key, rows)  # computed by the job this one waited for
        if found is not None:
            return found, True
        remove_temporaries(path)
        features = compute()
        write(path, key, features)
    return features, False
