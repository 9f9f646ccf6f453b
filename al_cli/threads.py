"""How many CPU threads torch uses, and a way to run a step on one.

``threads`` (a top-level config key, not part of a run's identity) sets torch's intra-op
threads. Unset (null), it is ``OMP_NUM_THREADS`` when that is set, else the CPUs this process
may run on (``os.sched_getaffinity``, which also follows what SLURM or ``taskset`` granted)
divided by the jobs that run at once on this machine (a joblib sweep's ``n_jobs``; 1
otherwise), so that parallel jobs do not oversubscribe the cores.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import torch
from omegaconf import OmegaConf

from al_cli.errors import UserError


def available_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def parallel_jobs(launcher: Any, cpus: int) -> int:
    """Jobs of a sweep that run at once on this machine: a joblib launcher's ``n_jobs`` (with
    joblib's meaning of negative values: -1 is one per CPU), else 1."""
    target = str(OmegaConf.select(launcher, "_target_", default="") or "") if launcher else ""
    if not target.endswith("JoblibLauncher"):
        return 1
    n_jobs = OmegaConf.select(launcher, "n_jobs", default=None)
    if n_jobs is None or n_jobs == 0:
        return 1
    return max(1, cpus + 1 + n_jobs if n_jobs < 0 else n_jobs)


def choose_threads(setting: int | None, launcher: Any = None) -> int:
    """The thread count for ``threads=setting``: the setting itself; when it is null,
    ``OMP_NUM_THREADS`` where that is set (by the user, or by joblib in its workers), else the
    CPUs this process may use divided by the jobs running at once (at least 1)."""
    if setting is not None:
        if setting < 1:
            raise UserError(
                f"threads={setting} must be at least 1, or null for the CPUs this process may "
                f"use divided by the jobs running at once"
            )
        return int(setting)
    from_env = os.environ.get("OMP_NUM_THREADS", "")
    if from_env.isdigit() and int(from_env) > 0:
        return int(from_env)
    cpus = available_cpus()
    return max(1, cpus // parallel_jobs(launcher, cpus))


def set_threads(setting: int | None) -> int:
    """Apply ``threads`` with ``torch.set_num_threads``; returns the count. The launcher is read
    from Hydra's config of the job, when there is one."""
    from hydra.core.hydra_config import HydraConfig

    launcher = HydraConfig.get().launcher if HydraConfig.initialized() else None
    threads = choose_threads(setting, launcher)
    torch.set_num_threads(threads)
    logging.getLogger("al").debug(
        f"al run: {threads} torch threads ({available_cpus()} CPUs available, threads={setting})"
    )
    return threads


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the body on one CPU thread: for many tiny ops, thread fork-join costs more than it
    saves, and far more when other processes share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
