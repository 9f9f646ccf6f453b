"""Compare two result folders made by scripts/same_runs.sh before and after a change: the same
run folders, and in each the same learning curve (timing columns left out), the same
queries.csv and the same identity and config hash in run.json. Prints each difference and
exits 1 if there is one.

    python scripts/same_runs.py BEFORE AFTER
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

TIMING = ("seconds", "train_seconds", "query_seconds", "time")


def runs(root: Path) -> set[Path]:
    return {p.parent.relative_to(root) for p in root.rglob("run.json")}


def curve(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    return frame.drop(columns=[c for c in frame if any(t in c for t in TIMING)])


def identity(path: Path) -> dict:
    info = json.loads(path.read_text())
    return {k: info.get(k) for k in ("identity", "config_hash", "status", "data_fingerprint")}


def compare(before: Path, after: Path) -> list[str]:
    problems = []
    a, b = runs(before), runs(after)
    problems += [f"only before: {p}" for p in sorted(a - b)]
    problems += [f"only after: {p}" for p in sorted(b - a)]
    for run in sorted(a & b):
        x, y = before / run, after / run
        if not curve(x / "learning_curve.csv").equals(curve(y / "learning_curve.csv")):
            problems.append(f"learning curve differs: {run}")
        if (x / "queries.csv").read_bytes() != (y / "queries.csv").read_bytes():
            problems.append(f"queries.csv differs: {run}")
        if identity(x / "run.json") != identity(y / "run.json"):
            problems.append(f"run.json identity differs: {run}")
    return problems


def main() -> None:
    before, after = Path(sys.argv[1]), Path(sys.argv[2])
    problems = compare(before, after)
    print("\n".join(problems) or f"{len(runs(before))} runs, all the same")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
