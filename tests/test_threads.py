"""The ``threads`` setting: torch's CPU threads, by default the CPUs this process may use
divided by the jobs running at once; never part of a run's identity."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from al_cli.errors import UserError
from al_cli.threads import available_cpus, choose_threads, parallel_jobs, set_threads
from tests.conftest import FAST, compose_config, run_al

JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"


def launcher(target: str, **keys) -> object:
    return OmegaConf.create({"_target_": target, **keys})


def test_parallel_jobs_reads_joblibs_n_jobs():
    assert parallel_jobs(None, 16) == 1
    basic = launcher("hydra._internal.core_plugins.basic_launcher.BasicLauncher")
    assert parallel_jobs(basic, 16) == 1
    assert parallel_jobs(launcher(JOBLIB, n_jobs=4), 16) == 4
    assert parallel_jobs(launcher(JOBLIB, n_jobs=-1), 16) == 16  # joblib: one per CPU
    assert parallel_jobs(launcher(JOBLIB, n_jobs=-2), 16) == 15
    assert parallel_jobs(launcher(JOBLIB, n_jobs=-40), 16) == 1
    assert parallel_jobs(launcher(JOBLIB, n_jobs=None), 16) == 1


def test_default_divides_the_available_cpus_by_the_parallel_jobs(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("al_cli.threads.available_cpus", lambda: 16)
    assert choose_threads(None) == 16
    assert choose_threads(None, launcher(JOBLIB, n_jobs=4)) == 4
    assert choose_threads(None, launcher(JOBLIB, n_jobs=3)) == 5
    assert choose_threads(None, launcher(JOBLIB, n_jobs=32)) == 1
    assert choose_threads(3, launcher(JOBLIB, n_jobs=4)) == 3  # an explicit setting wins
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's (or joblib's, in its workers)
    assert choose_threads(None, launcher(JOBLIB, n_jobs=4)) == 2
    assert choose_threads(6) == 6


def test_available_cpus_follow_the_affinity_mask():
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no sched_getaffinity here")
    assert available_cpus() == len(os.sched_getaffinity(0))


def test_threads_below_one_is_refused():
    with pytest.raises(UserError, match="threads=0 must be at least 1"):
        choose_threads(0)


def test_set_threads_applies_it():
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_threads_and_logger_never_move_the_run_folder():
    from tests.test_identity import run_dir

    base = run_dir(*FAST)
    assert run_dir(*FAST, "threads=1") == base
    assert run_dir(*FAST, "logger=[mlflow,tensorboard]", "logger.mlflow.experiment=x") == base
    assert compose_config(*FAST).threads is None


def test_cli_threads_below_one_is_one_line_and_writes_nothing(tmp_path: Path):
    """(threads=1 through the CLI: tests/test_provenance.py reads it back from run.json.)"""
    out = run_al("run", *FAST, "threads=0", f"hydra.run.dir={tmp_path / 'b'}")
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines == [
        "al run: error: threads=0 must be at least 1, or null for the CPUs this "
        "process may use divided by the jobs running at once"
    ], out.stderr
    assert not (tmp_path / "b").exists()
