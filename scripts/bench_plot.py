"""How long ``al plot`` takes, measured side by side with importing torch (which it never does).

Writes synthetic learning curves in the documented schema, each with a run.json holding its
config (a small sweep and a large one; the first strategy is ``random``, so ``al plot`` pairs
every other line with it and computes the paired statistics), then times, best of
``--repeats``: ``python -c 'import torch'``, ``al plot --help``, ``al plot`` on each sweep,
and on the large one without the paired statistics (``--baseline none``: no scipy import, no
difference figure). Prints each time and its ratio to the torch import.

    python scripts/bench_plot.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from al_cli.results import CURVE_COLUMNS, csv_text

AL = shutil.which("al", path=str(Path(sys.executable).parent)) or "al"


def write_sweep(root: Path, strategies: int, seeds: int, rounds: int) -> None:
    """``strategies x seeds`` runs of ``rounds`` rows, with rising accuracies."""
    rng = np.random.default_rng(0)
    for s in range(strategies):
        name = "random" if s == 0 else f"strategy_{s}"
        for seed in range(seeds):
            acc = np.sort(rng.uniform(0.3, 0.95, rounds))
            rows = [
                {
                    "dataset": "digits",
                    "model": "mlp",
                    "strategy": name,
                    "posterior": "deterministic",
                    "posterior_samples": 1,
                    "acquisition": name,
                    "selection": "topk",
                    "seed": seed,
                    "round": r,
                    "n_labeled": 20 + 20 * r,
                    "test_accuracy": round(float(acc[r]), 4),
                    "test_nll": round(float(1 - acc[r]), 4),
                    "test_ece": 0.05,
                    "train_seconds": 0.5,
                    "query_seconds": 0.01,
                    "eval_seconds": 0.01,
                }
                for r in range(rounds)
            ]
            folder = root / name / f"seed{seed}"
            folder.mkdir(parents=True)
            (folder / "learning_curve.csv").write_text(csv_text(rows, CURVE_COLUMNS))
            config = {"seed": seed, "strategy": {"name": name}, "trainer": {"lr": 0.001}}
            info = {"status": "finished", "config": config}
            (folder / "run.json").write_text(json.dumps(info) + "\n")


def best_wall(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="al-bench-plot-"))
    try:
        write_sweep(root / "small", strategies=3, seeds=5, rounds=15)
        write_sweep(root / "large", strategies=10, seeds=50, rounds=15)
        cases = {
            "python -c 'import torch'": [sys.executable, "-c", "import torch"],
            "al plot --help": [AL, "plot", "--help"],
            "al plot, 15 runs (3 strategies x 5 seeds)": [AL, "plot", str(root / "small")],
            "al plot, 500 runs (10 strategies x 50 seeds)": [AL, "plot", str(root / "large")],
            "al plot --baseline none, 500 runs": [
                AL,
                "plot",
                str(root / "large"),
                "--baseline",
                "none",
            ],
        }
        base = None
        print(f"{'command':48s} {'seconds':>8s} {'/ torch import':>15s}")
        for name, command in cases.items():
            seconds = best_wall(command, args.repeats)
            base = base or seconds
            print(f"{name:48s} {seconds:8.2f} {seconds / base:15.2f}")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
