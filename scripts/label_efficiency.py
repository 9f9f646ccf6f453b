"""Label efficiency on digits: learning curves of several strategies, averaged over seeds.

Checks the implementation end to end (entropy should beat random), and reports for each
strategy the mean test accuracy over the last half of the rounds, the final accuracy, and the
labels needed to first reach a target accuracy. Runs in-process through the same ``setup`` and
round loop as ``al run``, each run into a temporary folder.

    python scripts/label_efficiency.py --strategies random,entropy --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import al_cli.config  # noqa: F401
from al_cli.loop import run_rounds
from al_cli.results import Recorder
from al_cli.setup import setup


def one_run(strategy: str, seed: int, overrides: list[str], out: Path) -> list[dict]:
    with initialize_config_module(config_module="al_cli.configs", version_base="1.3"):
        cfg = compose("config", overrides=[f"strategy={strategy}", f"seed={seed}", *overrides])
    exp = setup(cfg)
    rec = Recorder(out, OmegaConf.to_container(cfg, resolve=True), {})
    rec.start()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        run_rounds(
            exp,
            seed,
            rec,
        )
    return rec.curve


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--strategies", default="random,entropy")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--target", type=float, default=0.90)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. device=cpu")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(
        f"# label efficiency: {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{time.strftime('%Y-%m-%d')}, overrides {args.overrides or 'none'}\n"
    )
    print(
        "| strategy | seeds | mean accuracy, last half of rounds | final accuracy "
        f"| labels to {args.target:.0%} | seconds per run |"
    )
    print("|---|---|---|---|---|---|")
    summary = {}
    with tempfile.TemporaryDirectory() as tmp:
        for strategy in args.strategies.split(","):
            last_half, final, to_target, seconds = [], [], [], []
            for seed in seeds:
                t0 = time.perf_counter()
                curve = one_run(strategy, seed, args.overrides, Path(tmp) / f"{strategy}-{seed}")
                seconds.append(time.perf_counter() - t0)
                acc = np.array([r["test_accuracy"] for r in curve])
                labels = np.array([r["n_labeled"] for r in curve])
                last_half.append(acc[len(acc) // 2 :].mean())
                final.append(acc[-1])
                hit = np.flatnonzero(acc >= args.target)
                to_target.append(labels[hit[0]] if len(hit) else np.nan)
            reached = int(np.isfinite(to_target).sum())
            need = (
                f"{np.nanmean(to_target):.0f} ({reached}/{len(seeds)} seeds)"
                if reached
                else "not reached"
            )
            summary[strategy] = float(np.mean(last_half))
            print(
                f"| {strategy} | {len(seeds)} "
                f"| {np.mean(last_half):.4f} ± {np.std(last_half, ddof=1):.4f} "
                f"| {np.mean(final):.4f} | {need} | {np.mean(seconds):.1f} |",
                flush=True,
            )
    if "random" in summary:
        for name, value in summary.items():
            if name != "random":
                verdict = "beats" if value > summary["random"] else "does NOT beat"
                print(f"\n{name} {verdict} random: {value:.4f} vs {summary['random']:.4f}")


if __name__ == "__main__":
    main()
