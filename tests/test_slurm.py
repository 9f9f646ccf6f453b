"""Sweeps on a real SLURM cluster through the real CLI (``hydra/launcher=slurm``).

Tests marked ``slurm`` need a cluster that ``sinfo`` reaches: ``scripts/slurm_local.sh`` brings
up a single-node one (CI runs it before pytest); elsewhere they skip, saying why. Each test names
its jobs (``hydra.launcher.name``) so that it waits only for its own. Uninterrupted references
run outside SLURM on one CPU, as a 1-CPU job does: torch's thread count follows the CPUs a
process may use, and a different thread count changes the last digits of the metrics.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import (
    AL,
    FAST,
    assert_same_results,
    one_line_error,
    read_csv,
    run_al,
    run_info,
    start_al,
    wait_for,
)


def slurm_missing() -> str | None:
    """Why the cluster tests cannot run here, or None when sinfo shows a node up."""
    hint = "bring one up with scripts/slurm_local.sh (root, Debian)"
    if shutil.which("sinfo") is None:
        return f"no SLURM here (no sinfo); {hint}"
    try:
        out = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return f"sinfo did not answer within 20 s; {hint}"
    if out.returncode != 0:
        return f"sinfo failed ({out.stderr.strip()[:200]}); {hint}"
    if not any(s.strip("*~#") in ("idle", "mix", "alloc") for s in out.stdout.split()):
        return f"no SLURM node is up (sinfo: {out.stdout.split()}); {hint}"
    return None


MISSING = slurm_missing()
needs_cluster = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

SMALL_JOB = ["hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]
FOUR = [*FAST, "budget.max_labels=100", "trainer.min_steps=250", "seed=0,1,2,3"]
"""Four runs of 10 short rounds (~0.4 s each on an idle 2-core machine): time to cancel one
after its first round and before its last."""
REQUEUED = [
    *[o for o in FAST if not o.startswith("dataset.n_samples=")],
    "dataset.n_samples=600",
    "budget.max_labels=200",
    "trainer.min_steps=500",
]
"""One run of 20 rounds (~1 s each on an idle 2-core machine): time to signal it after its
first round and before its last."""
TIME_LIMITED = ["hydra.launcher.timeout_min=10", "hydra.launcher.signal_delay_s=10"]
"""A job SLURM warns (SIGUSR2) 10 s before its 10-minute limit. The test sends that warning
itself once a round is saved, as submitit's own tests do (``SlurmJob._interrupt``): SLURM's
comes only at its next time-limit check (every 30 s or so), and on a loaded machine it can
come before submitit handles it, while Python and torch still load, and kill the job."""


def job_name() -> str:
    return f"al-test-{uuid.uuid4().hex[:8]}"


def sweep(name: str, results: Path, *overrides: str) -> list[str]:
    return [
        "run",
        "-m",
        "hydra/launcher=slurm",
        f"hydra.launcher.name={name}",
        *overrides,
        f"paths.results_dir={results}",
    ]


def start_on_one_cpu(*args: str) -> subprocess.Popen:
    """``al`` outside SLURM, bound to one CPU as a 1-CPU job is."""
    cpu = min(os.sched_getaffinity(0))
    return subprocess.Popen(
        [AL, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )


def finish(proc: subprocess.Popen, timeout: float = 600) -> None:
    _, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, stderr


def jobs(name: str) -> list[tuple[str, str, str]]:
    """(array job id, task id, state) of each of this test's jobs still known to squeue."""
    out = subprocess.run(
        ["squeue", "-h", "-r", "-n", name, "-o", "%F %K %T"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [tuple(line.split()) for line in out.stdout.splitlines()]  # type: ignore[misc]


def saved_round(
    results: Path,
    proc: subprocess.Popen,
    seed: int = 0,
    timeout: float = 300,
    every: float = 0.1,
) -> Path:
    """The learning curve of run ``seed`` below ``results``, once it holds a round (while
    ``proc`` runs)."""

    def curve() -> Path | None:
        found = next(results.glob(f"*/*/*/seed{seed}/learning_curve.csv"), None)
        return found if found is not None and read_csv(found) else None

    return wait_for(curve, f"no round of seed {seed} saved in {results}", timeout, proc, every)


def wait_until_gone(name: str, timeout: float = 300) -> None:
    """Until squeue knows none of the jobs named ``name``."""
    wait_for(
        lambda: not jobs(name), lambda: f"jobs {name} still queued: {jobs(name)}", timeout, every=1
    )


def runs(results: Path) -> dict[str, Path]:
    """Run folders below ``results`` by seed folder name."""
    return {p.parent.name: p.parent for p in results.rglob("run.json")}


def status(folder: Path) -> str:
    return run_info(folder)["status"]


def logs(results: Path) -> str:
    """What the jobs printed (stdout and stderr; SLURM jobs here write both to .out)."""
    return "\n".join(p.read_text() for p in sorted(results.glob(".submitit/*/*_log.*")))


# ---- on the cluster ---------------------------------------------------------------------------


@pytest.mark.slurm
@needs_cluster
def test_four_job_sweep_lands_four_curves(tmp_path: Path):
    """device=auto asks for no GPU, so the sweep runs on a CPU-only cluster."""
    fast_auto = [o for o in FAST if not o.startswith("device=")] + ["device=auto"]
    name = job_name()
    sweep_args = sweep(name, tmp_path, *SMALL_JOB, *fast_auto, "seed=0,1,2,3")
    # no OMP_NUM_THREADS from the suite: the thread count must come from the CPUs SLURM grants
    out = run_al(*sweep_args, timeout=600, env={"OMP_NUM_THREADS": None})
    assert out.returncode == 0, out.stdout + out.stderr
    found = runs(tmp_path)
    assert sorted(found) == ["seed0", "seed1", "seed2", "seed3"]
    for folder in found.values():
        assert status(folder) == "finished"
        assert [r["n_labeled"] for r in read_csv(folder / "learning_curve.csv")] == [
            "10",
            "20",
            "30",
            "40",
        ]
        info = run_info(folder)
        assert info["device"] == "cpu"
        assert info["torch_threads"] == 1  # the one CPU SLURM granted (task/affinity)
    script = next(tmp_path.glob(".submitit/*/*_submission.sh")).read_text()
    assert "--cpus-per-task=1" in script and "gpu" not in script


@pytest.mark.slurm
@needs_cluster
def test_cancelled_job_resumes_when_the_sweep_is_rerun(tmp_path: Path):
    results, reference = tmp_path / "results", tmp_path / "reference"
    ref = start_on_one_cpu("run", "-m", *FOUR, f"paths.results_dir={reference}")
    name = job_name()
    args = sweep(name, results, *SMALL_JOB, *FOUR)
    first = start_al(*args)
    # cancel seed 1 (task 1 of the array) once its first round is saved
    curve = saved_round(results, first, seed=1)
    (task,) = [f"{a}_{k}" for a, k, _ in jobs(name) if k == "1"]
    subprocess.run(["scancel", task], check=True)
    first.communicate(timeout=300)
    wait_until_gone(name)
    assert first.returncode != 0  # the sweep reports the cancelled job
    cancelled = curve.parent
    assert status(cancelled) == "interrupted"
    assert 1 <= len(read_csv(curve)) < 10, "seed 1 ended before it was cancelled"
    assert "SIGTERM received; stopping now" in logs(results)
    finished = {
        seed: (folder / "learning_curve.csv").read_bytes()
        for seed, folder in runs(results).items()
        if seed != "seed1"
    }
    assert all(status(runs(results)[seed]) == "finished" for seed in finished)

    before = set(results.glob(".submitit/*"))
    out = run_al(*args, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    rerun = "\n".join(
        p.read_text()
        for d in sorted(set(results.glob(".submitit/*")) - before)
        for p in d.glob("*_log.*")
    )
    assert rerun.count("already finished, skipped") == 3, rerun
    assert f"resuming {cancelled} at round" in rerun, rerun
    finish(ref)
    for seed, folder in runs(results).items():
        assert status(folder) == "finished"
        assert_same_results(folder, runs(reference)[seed])
        if seed in finished:
            assert (folder / "learning_curve.csv").read_bytes() == finished[seed]


@pytest.mark.slurm
@needs_cluster
def test_time_limited_job_is_requeued_and_resumed(tmp_path: Path):
    """SLURM's warning before the time limit makes submitit requeue the job, which resumes
    where it stopped and lands the uninterrupted run's results. The test sends the warning as
    soon as a round is saved instead of waiting for SLURM's time-limit check. The requeued job
    then waits out its BeginTime (about 12 s with scripts/slurm_local.sh): releasing it at once
    (scontrol update StartTime=now) let it start while the first run's step was still being
    torn down on the node, and that start failed."""
    results, reference = tmp_path / "results", tmp_path / "reference"
    ref = start_on_one_cpu("run", *REQUEUED, f"paths.results_dir={reference}")
    name = job_name()
    sweep_proc = start_al(*sweep(name, results, *SMALL_JOB, *TIME_LIMITED, *REQUEUED))
    curve = saved_round(results, sweep_proc)
    subprocess.run(["scancel", "--signal=USR2", f"--name={name}"], check=True)
    stdout, stderr = sweep_proc.communicate(timeout=600)
    assert sweep_proc.returncode == 0, stdout + stderr
    script = next(results.glob(".submitit/*/*_submission.sh")).read_text()
    assert "--signal=USR2@10" in script and "--time=10" in script  # what SLURM itself sends
    log = logs(results)
    assert "Caught signal SIGUSR2" in log and "this job is timed-out" in log, log
    assert len(set(re.findall(r"Requeued job (\S+ \(\d+)", log))) == 1, log  # once
    resumed = re.search(r"al run: resuming \S+ at round (\d+)", log)
    assert resumed and 1 <= int(resumed.group(1)) < 20, log  # stopped after a round, not done
    assert status(curve.parent) == "finished"
    assert len(read_csv(curve)) == 20
    finish(ref)
    assert_same_results(curve.parent, *runs(reference).values())


@pytest.mark.slurm
@needs_cluster
def test_failing_job_fails_the_sweep_and_the_others_land(tmp_path: Path):
    """With the default resources (2 CPUs, 3 GB: they fit CI's node of 2 CPUs and 4 GB)."""
    name = job_name()
    out = run_al(*sweep(name, tmp_path, *FAST, "budget.max_labels=5,40"), timeout=600)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "al run: error: budget.max_labels=5" in out.stderr
    assert "Traceback" not in out.stderr
    (folder,) = runs(tmp_path).values()
    assert status(folder) == "finished"
    assert len(read_csv(folder / "learning_curve.csv")) == 4


# ---- anywhere: what a job asks for, and what is refused before submission -------------------


def launcher_config(*overrides: str) -> dict:
    out = run_al(
        "run",
        "hydra/launcher=slurm",
        *overrides,
        "--cfg",
        "all",
        "--resolve",
        "-p",
        "hydra.launcher",
    )
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


@pytest.mark.parametrize("device, gpus", [("auto", None), ("cpu", None), ("cuda", 1)])
def test_a_gpu_is_asked_for_only_with_device_cuda(device: str, gpus: int | None):
    launcher = launcher_config(f"device={device}")
    assert launcher["gpus_per_node"] == gpus
    assert launcher["cpus_per_task"] <= 2 and launcher["mem_gb"] <= 3  # fits 2 CPUs and 4 GB


@pytest.mark.parametrize(
    "settings, message",
    [
        (
            ["hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=31"],
            "hydra.launcher.signal_delay_s=31 is more than half of hydra.launcher.timeout_min=1",
        ),
        (["hydra.launcher.timeout_min=0"], "hydra.launcher.timeout_min=0 must be at least 1"),
        (["hydra.launcher.signal_delay_s=-1"], "hydra.launcher.signal_delay_s=-1 must be at"),
    ],
    ids=["signal_after_half", "timeout_0", "negative_delay"],
)
def test_launcher_settings_refused_before_submission(
    tmp_path: Path, settings: list[str], message: str
):
    results = tmp_path / "results"
    name = job_name()
    out = run_al(*sweep(name, results, *settings, *FAST))
    assert one_line_error(out).startswith(f"al run: error: {message}")
    assert not results.exists()  # no sweep folder, so no job file: nothing was submitted
    if MISSING is None:
        assert jobs(name) == []


def test_sigterm_inside_a_submitit_job_records_interrupted(tmp_path: Path):
    """submitit ignores SIGTERM (SLURM's scancel, preemption, time limit): al stops at once.

    Run with submitit's local executor, so it needs no cluster: the job is a process whose id
    names its submitit folder."""
    args = ["run", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", *FOUR]
    args = [a for a in args if not a.startswith("seed=")]
    sweep_proc = start_al(*args, f"paths.results_dir={tmp_path}")
    curve = saved_round(tmp_path, sweep_proc, timeout=120, every=0.05)
    (job,) = [p.name for p in tmp_path.glob(".submitit/*") if p.name.isdigit()]
    os.kill(int(job), signal.SIGTERM)
    wait_for(lambda: status(curve.parent) != "running", "the job still runs after SIGTERM", 60)
    sweep_proc.kill()  # it would wait 15 s for a result the stopped job never writes
    sweep_proc.communicate()
    assert status(curve.parent) == "interrupted"
    assert 1 <= len(read_csv(curve)) < 10
    assert "SIGTERM received; stopping now" in logs(tmp_path)
