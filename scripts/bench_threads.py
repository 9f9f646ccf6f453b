"""The ``threads`` setting in a 4-job joblib sweep: wall time before and after, side by side.

Runs the same sweep (4 jobs at once through ``hydra/launcher=joblib hydra.launcher.n_jobs=4``)
several ways, alternating them so that the machine's load hits all alike, and prints the
median wall time of each with its ratio to the default:

- ``before``: al as it was at ``--before`` (a git revision, default ``4d6ff71``, the commit
  before ``threads``), extracted with ``git archive`` and run with ``python -m al_cli``;
- ``default``: this al, ``threads`` unset (the CPUs this process may use / 4 jobs);
- ``all CPUs``: this al with ``threads`` = every CPU for each job, as a process that no
  launcher limits takes (4 such processes on one machine);
- ``threads=1``.

    python scripts/bench_threads.py --repeats 3
    python scripts/bench_threads.py --repeats 2 strategy=entropy budget.max_labels=200

OMP_NUM_THREADS is removed from the jobs' environment (joblib's workers then get joblib's
own limit, cpu_count // n_jobs). Each sweep writes to a fresh temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWEEP = [
    "-m",
    "hydra/launcher=joblib",
    "hydra.launcher.n_jobs=4",
    "seed=0,1,2,3",
    "device=cpu",
    "strategy=mc_dropout",
    "budget.max_labels=100",
]


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def checkout(revision: str, into: Path) -> Path:
    """al at ``revision``, importable from ``into`` (configs linked where the package looks)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    (into / "al_cli" / "configs").symlink_to(into / "configs", target_is_directory=True)
    return into


def sweep(command: list[str], extra: list[str], env: dict[str, str]) -> tuple[float, list[int]]:
    """Wall seconds of one sweep, and the torch threads each job recorded."""
    with tempfile.TemporaryDirectory() as results:
        t0 = time.perf_counter()
        out = subprocess.run(
            [*command, *SWEEP, *extra, f"paths.results_dir={results}"],
            capture_output=True,
            text=True,
            env=env,
        )
        seconds = time.perf_counter() - t0
        if out.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{out.stdout}\n{out.stderr}")
        threads = [
            json.loads(p.read_text()).get("torch_threads", -1)
            for p in sorted(Path(results).rglob("run.json"))
        ]
    return seconds, threads


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--before", default="4d6ff71", help="git revision of the 'before' al")
    ap.add_argument("overrides", nargs="*", help="more overrides for every job")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONWARNINGS"] = "ignore"
    n = cpus()
    with tempfile.TemporaryDirectory() as tmp:
        old = checkout(args.before, Path(tmp) / "before")
        before_env = {**env, "PYTHONPATH": str(old)}
        al = [sys.executable, "-m", "al_cli", "run"]
        cases = {
            f"before ({args.before})": (al, list(args.overrides), before_env),
            "default (threads unset)": (al, list(args.overrides), env),
            f"all CPUs (threads={n})": (al, [*args.overrides, f"threads={n}"], env),
            "threads=1": (al, [*args.overrides, "threads=1"], env),
        }
        load_before = os.getloadavg()
        times: dict[str, list[float]] = {name: [] for name in cases}
        threads: dict[str, list[int]] = {}
        for r in range(args.repeats):
            order = list(cases) if r % 2 == 0 else list(reversed(cases))
            for name in order:
                command, extra, case_env = cases[name]
                seconds, used = sweep(command, extra, case_env)
                times[name].append(seconds)
                threads[name] = used
                line = f"# repeat {r + 1}: {name}: {seconds:.1f} s, torch threads {used}"
                print(line, flush=True)
        load_after = os.getloadavg()
    default = statistics.median(times["default (threads unset)"])
    print(
        f"\n# {cpu_model()}, {n} CPUs available, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after\n"
        f"# sweep: al run {' '.join(SWEEP + args.overrides)}\n"
    )
    print("| case | torch threads per job | sweep wall s (median) | runs | / default |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        runs = ", ".join(f"{v:.1f}" for v in values)
        used = sorted(set(threads[name]))
        print(f"| {name} | {used} | {median:.1f} | {runs} | {median / default:.2f} |")


if __name__ == "__main__":
    main()
