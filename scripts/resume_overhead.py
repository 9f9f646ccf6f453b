"""What resumability costs: checkpoint writing per round, and ``deterministic=true``.

Runs the same small experiment several ways, side by side in one process, alternating them so
that machine load hits all alike, and prints the best of ``--repeats`` for each plus ratios:

    python scripts/resume_overhead.py device=cpu
    python scripts/resume_overhead.py --repeats 3 device=cuda dataset=digits model=cnn
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_module

import al_cli.resolvers  # noqa: F401  (schemas and resolvers)
from al_cli.loop import run_rounds
from al_cli.results import CHECKPOINT, Recorder, identity_config
from al_cli.setup import set_deterministic, setup

BASE = ["dataset=synthetic", "budget.initial=20", "budget.query_size=20", "budget.max_labels=100"]


class TimedRecorder(Recorder):
    """Counts the seconds spent writing the checkpoint and the CSVs."""

    write_seconds = 0.0

    def record(self, row, queries, state):
        t0 = time.perf_counter()
        super().record(row, queries, state)
        self.write_seconds += time.perf_counter() - t0


def one_run(overrides: list[str], deterministic: bool) -> tuple[float, float, int]:
    """(total seconds, seconds writing files, checkpoint bytes) of one run."""
    with initialize_config_module(config_module="al_cli.configs", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    set_deterministic(deterministic)
    exp = setup(cfg)
    with tempfile.TemporaryDirectory() as out:
        rec = TimedRecorder(Path(out), {}, {}, identity_config(cfg))
        rec.start()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            run_rounds(
                exp,
                cfg.seed,
                rec,
                keep_model=bool(cfg.trainer.warm_start),
            )
        if exp.device.type == "cuda":
            torch.cuda.synchronize()
        total = time.perf_counter() - t0
        size = (Path(out) / CHECKPOINT).stat().st_size
    set_deterministic(False)
    return total, rec.write_seconds, size


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. device=cpu")
    args = ap.parse_args()
    cases = {
        "plain": ([*BASE, "strategy=entropy", *args.overrides], False),
        "deterministic": ([*BASE, "strategy=entropy", *args.overrides], True),
        "warm ensemble": (
            [
                *BASE,
                "strategy=entropy",
                "posterior=deep_ensemble",
                "posterior.members=5",
                "trainer.warm_start=true",
                *args.overrides,
            ],
            False,
        ),  # fmt: skip
    }
    best: dict[str, tuple[float, float, int]] = {}
    for _ in range(args.repeats):
        for name, (overrides, det) in cases.items():
            result = one_run(overrides, det)
            if name not in best or result[0] < best[name][0]:
                best[name] = result
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, overrides {args.overrides}"
    )
    print(f"{'case':<15}{'run s':>9}{'writing s':>11}{'writing %':>11}{'checkpoint kB':>15}")
    for name, (total, write, size) in best.items():
        print(f"{name:<15}{total:9.2f}{write:11.3f}{100 * write / total:10.1f}%{size / 1e3:15.1f}")
    ratio = best["deterministic"][0] / best["plain"][0]
    print(f"deterministic / plain run time: {ratio:.2f}")


if __name__ == "__main__":
    main()
