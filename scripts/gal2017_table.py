"""Issue 18's tables: labels to 90% test accuracy per seed for every variant that
``scripts/gal2017_ablation.sh`` ran and for the peer script's curves, paired by seed.

    python scripts/gal2017_table.py OUT --peer ../shared/peers/results/baal_gal_mnist5k.csv \
        [--rerun OUT/peer_script/bald_seed*.csv]

Prints markdown: per variant and strategy, labels to the target on each seed, the median, and
the paired differences (variant minus reference, per seed) against the script's BALD (its
published curves, ``script``, and those rerun on this machine, ``script_here``), against the
``keras`` variant (the authors' settings: the ablation's reference), against ``peer`` and
``keras_consistent`` (masks shared across inputs: what per-input masks change), against
``peer_masks`` (what dropping the last partial batch changes) and, for BALD,
against the same variant's random; then W/T/L (seeds with fewer / equal / more labels) and the
paired difference of the area under the curve with its 95% t interval. A seed that never reaches
the target counts as one query (10 labels) beyond the last point, so a difference with it is a
bound (marked with ``*``).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from al_cli.plot.paired import t_interval
from al_cli.plot.summary import labels_to_reach, normalized_auc

SAME_RANDOM = {"peer": "peer_training", "peer_masks": "peer_training", "keras_consistent": "keras"}
"""Variants whose random runs would be another's: they differ only in how BALD samples
(masks, T), which random never reads, and it is tested with dropout off."""

Curves = dict[tuple[str, str], dict[int, tuple[np.ndarray, np.ndarray]]]
"""(variant, strategy) -> seed -> (n_labeled, test_accuracy)."""


def read_al(out: Path) -> Curves:
    """Every run below ``out/VARIANT/`` (its learning_curve.csv beside run.json)."""
    curves: Curves = {}
    for path in sorted(out.glob("*/**/learning_curve.csv")):
        variant = path.relative_to(out).parts[0]
        info = json.loads((path.parent / "run.json").read_text())
        rows = list(csv.DictReader(path.open()))
        if not rows:
            continue
        n = np.array([int(r["n_labeled"]) for r in rows])
        acc = np.array([float(r["test_accuracy"]) for r in rows])
        key = (variant, rows[0]["strategy"])
        curves.setdefault(key, {})[int(info["config"]["seed"])] = (n, acc)
    return curves


def read_peer(paths: list[Path], name: str) -> Curves:
    """The script's curves (its CSV rows), under the variant name ``name``."""
    rows = [r for path in paths for r in csv.DictReader(path.open())]
    curves: Curves = {}
    for strategy in sorted({r["strategy"] for r in rows}):
        for seed in sorted({int(r["seed"]) for r in rows if r["strategy"] == strategy}):
            mine = [r for r in rows if r["strategy"] == strategy and int(r["seed"]) == seed]
            n = np.array([int(r["n_labeled"]) for r in mine])
            acc = np.array([float(r["test_accuracy"]) for r in mine])
            curves.setdefault((name, strategy), {})[seed] = (n, acc)
    return curves


def complete(curves: Curves, max_labels: int) -> Curves:
    """Only runs that reached ``max_labels`` (unfinished runs are left out of every table)."""
    out: Curves = {}
    for key, seeds in curves.items():
        done = {s: c for s, c in seeds.items() if c[0][-1] >= max_labels}
        if done:
            out[key] = done
    return out


def needed(curve: tuple[np.ndarray, np.ndarray], target: float, max_labels: int) -> float:
    n, acc = curve
    keep = n <= max_labels
    value = float(labels_to_reach(n[keep], acc[keep], target, lower=False)[0])
    return value if np.isfinite(value) else max_labels + 10


def auc(curve: tuple[np.ndarray, np.ndarray], max_labels: int) -> float:
    n, acc = curve
    keep = n <= max_labels
    return float(normalized_auc(n[keep], acc[keep])[0])


def fmt_labels(v: float, max_labels: int) -> str:
    return f">{max_labels}" if v > max_labels else f"{v:.0f}"


def fmt_diff(d: float, censored: bool) -> str:
    return f"{d:+.0f}{'*' if censored else ''}"


def paired(a: dict, b: dict, target: float, max_labels: int) -> str:
    """Per-seed differences of labels to target (a - b), W/T/L, mean paired AUC difference."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return "| | | |"
    na = [needed(a[s], target, max_labels) for s in seeds]
    nb = [needed(b[s], target, max_labels) for s in seeds]
    diffs = [fmt_diff(x - y, max(x, y) > max_labels) for x, y in zip(na, nb, strict=True)]
    d = np.array(na) - np.array(nb)
    wtl = f"{(d < 0).sum()}/{(d == 0).sum()}/{(d > 0).sum()}"
    mean, low, high = t_interval(
        np.array([auc(a[s], max_labels) - auc(b[s], max_labels) for s in seeds])
    )
    ci = f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]" if np.isfinite(low) else f"{mean:+.3f}"
    return f"| {' '.join(diffs)} (median {np.median(d):+.0f}) | {wtl} | {ci} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--peer", type=Path, required=True, help="the script's published curves")
    ap.add_argument("--rerun", type=Path, nargs="*", default=[], help="the script rerun here")
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--max-labels", type=int, default=300)
    a = ap.parse_args()
    scripts = {**read_peer([a.peer], "script"), **read_peer(a.rerun, "script_here")}
    curves = complete({**scripts, **read_al(a.out)}, a.max_labels)
    print(f"Labels to {a.target:.0%} test accuracy (runs to {a.max_labels} labels)\n")
    print("| variant | strategy | seeds | labels per seed | median |")
    print("|---|---|---|---|--:|")
    for (variant, strategy), seeds in curves.items():
        values = [needed(seeds[s], a.target, a.max_labels) for s in sorted(seeds)]
        shown = " ".join(fmt_labels(v, a.max_labels) for v in values)
        median = fmt_labels(float(np.median(values)), a.max_labels)
        print(
            f"| {variant} | {strategy} | {','.join(map(str, sorted(seeds)))} | {shown} | {median} |"
        )
    references = [("script", "bald"), ("script_here", "bald"), ("keras", "bald")]
    references += [("peer", "bald"), ("peer_masks", "bald"), ("keras_consistent", "bald")]
    for ref in references:
        if ref not in curves:
            continue
        print(f"\nPaired with {ref[0]} {ref[1]} (line minus reference, per seed)\n")
        print("| variant | strategy | labels to target: difference per seed | W/T/L | Δ AUC |")
        print("|---|---|---|--:|--:|")
        for key, seeds in curves.items():
            if key != ref and key[1] == ref[1]:
                print(
                    f"| {key[0]} | {key[1]} " + paired(seeds, curves[ref], a.target, a.max_labels)
                )
    print("\nBALD paired with random of the same variant\n")
    print("| variant | labels to target: difference per seed | W/T/L | Δ AUC |")
    print("|---|---|--:|--:|")
    for (variant, strategy), seeds in curves.items():
        random = (SAME_RANDOM.get(variant, variant), "random")
        if strategy == "bald" and random in curves:
            row = paired(seeds, curves[random], a.target, a.max_labels)
            shared = "" if random[0] == variant else f" (random of {random[0]})"
            print(f"| {variant}{shared} " + row)


if __name__ == "__main__":
    main()
