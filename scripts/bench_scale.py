"""Query seconds and memory of every strategy as the pool grows 10x at a time (issue 25).

Every round runs through al's own code: ``al_cli.setup.setup`` (synthetic data with 32
features, the default MLP, the strategy's posterior and default settings, so the whole
unlabeled pool is scored), the initial labels (``al_cli.loop.start``) and one round of the loop
(``al_cli.loop.one_round``: fit, evaluate, query), on one torch thread. The query's seconds are
the loop's own ``query_seconds``. Its memory is the peak resident set while it runs (Linux's
VmHWM, reset just before it) less the resident set just before: how much the query itself
adds. The round's peak is the largest resident set from setup to the end of the query.

All rounds run in one child process (OpenMP and MKL set to one thread before it starts; the
parent prints the tables, also of a run cut short), which hands freed memory back to the system
before each round (glibc's ``malloc_trim``), so that a round's resident set is its own. It
first makes every size's data set (``load_dataset``, cached: each round starts with all of
them held) and runs every strategy once on a small pool (imports, first calls); then strategy
by strategy, each at every size in increasing order, each old variant right after its
strategy. The query's CPU seconds are given beside its wall-clock seconds: on a machine that
others load, they are what moves least between runs minutes apart.

``kmeans-old`` and ``badge-old`` are kmeans and badge with the code before issue 25's fix
(``old_nearest_distinct``: the whole pool converted and normed again for every chunk of
centroids; ``old_kmeanspp_gradients``: a float64 copy of the layer inputs beside the float32
one), kept here only for this comparison. The same seed gives both variants the same data and
the same trained network, so their picks must agree: each row carries a hash of its picks.

    OMP_NUM_THREADS=1 python scripts/bench_scale.py                       # 10k, 100k, 1M
    OMP_NUM_THREADS=1 python scripts/bench_scale.py --sizes 10000,100000  # a quick check
    OMP_NUM_THREADS=1 python scripts/bench_scale.py --old --sizes 10000,100000 \\
        --extra 1000000:kmeans,kmeans-old,badge,badge-old  trainer.min_steps=100

    python scripts/bench_scale.py --tables saved_output.txt   # the tables again

Extra arguments are Hydra overrides for every round (training is not what is measured). Linux
only: it reads /proc and calls glibc.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import numpy as np
import torch

STRATEGIES = sorted(
    p.name.removesuffix(".yaml")
    for p in resources.files("al_cli.configs").joinpath("strategy").iterdir()
    if p.name.endswith(".yaml")
)
OLD = {"kmeans-old": "kmeans", "badge-old": "badge"}
MEASURES = {
    "query_s": "Query seconds (the loop's query_seconds, wall clock)",
    "query_cpu_s": "Query CPU seconds (one thread: what others' load moves least)",
    "query_mib": "Query memory: peak resident set while querying, above the set just before (MiB)",
    "round_mib": "Round peak: largest resident set from setup to the end of the query (MiB)",
}
TEST = 2000
"""Test inputs in every round: evaluation is not what is measured, so it stays small."""
WARM_UP = 1000
"""Pool size of the unrecorded first round of every strategy: imports and first calls."""
LIBC = ctypes.CDLL("libc.so.6")


# -- the code before the fix, for the side-by-side comparison only ----------------------------


def old_nearest_distinct(points: torch.Tensor, centroids: torch.Tensor) -> np.ndarray:
    """``nearest_distinct`` before issue 25: each chunk of ``CELLS // N`` centroids converts
    the whole pool to float64 and computes its norms again."""
    from al_cli.strategies.diversity import CELLS

    def sq_dists(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x, c = x.double(), c.double()
        return ((x * x).sum(1)[:, None] + (c * c).sum(1)[None, :] - 2 * x @ c.T).clamp_min(0)

    taken = torch.zeros(len(points), dtype=torch.bool, device=points.device)
    picks = []
    step = max(1, CELLS // max(len(points), 1))
    for s in range(0, len(centroids), step):
        d = sq_dists(centroids[s : s + step], points)
        for row in d:
            i = int(row.masked_fill(taken, math.inf).argmin())
            taken[i] = True
            picks.append(i)
    return np.asarray(picks, dtype=np.int64)


def old_kmeanspp_gradients(
    probs: torch.Tensor, h: torch.Tensor, k: int, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``kmeanspp_gradients`` before issue 25: a float64 copy of ``h`` beside the float32 one."""
    from al_cli.progress import steps
    from al_cli.strategies.selection import top_k
    from al_cli.threads import one_thread

    a = probs.double() - torch.nn.functional.one_hot(probs.argmax(1), probs.shape[1]).double()
    h = h.double()
    sq = (a * a).sum(1) * (h * h).sum(1)
    n = len(sq)
    chosen = torch.zeros(n, dtype=torch.bool, device=sq.device)
    d2 = torch.full_like(sq, float("inf"))
    picks = [int(top_k(sq, 1, generator)[0])]
    scores = [float(sq[picks[0]])]
    with one_thread():
        for _ in steps(k - 1, "k-means++", "pick"):
            j = picks[-1]
            chosen[j] = True
            dist = sq + sq[j] - 2 * (a @ a[j]) * (h @ h[j])
            d2 = torch.minimum(d2, dist.clamp_min(0))
            weights = torch.where(chosen, 0.0, d2).cpu()
            if not weights.sum() > 0:
                weights = (~chosen).double().cpu()
            picks.append(int(torch.multinomial(weights, 1, generator=generator)))
            scores.append(float(d2[picks[-1]]))
    return np.asarray(picks, dtype=np.int64), np.asarray(scores)


def code_for(name: str) -> None:
    """Put the functions ``name`` runs with where its strategy looks them up (module globals):
    the pre-fix ones for an old variant, today's otherwise."""
    from al_cli.strategies import diversity, gradient

    diversity.nearest_distinct = NOW["nearest_distinct"]
    gradient.kmeanspp_gradients = NOW["kmeanspp_gradients"]
    if name == "kmeans-old":
        diversity.nearest_distinct = old_nearest_distinct
    elif name == "badge-old":
        gradient.kmeanspp_gradients = old_kmeanspp_gradients


NOW: dict[str, Callable] = {}


# -- the child: every round, one after another ------------------------------------------------


def status_mib(field: str) -> float:
    """A ``/proc/self/status`` memory line (VmRSS, VmHWM) in MiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def reset_peak() -> None:
    """Start VmHWM again from the current resident set (Linux 4.0 and later)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def measured(select: Callable, facts: dict[str, float]) -> Callable:
    """``select``, recording the peak so far, the resident set before it, its own peak and
    its CPU seconds."""

    def wrapper(ctx: Any, k: int) -> Any:
        facts["before"] = status_mib("VmHWM")
        facts["rss"] = status_mib("VmRSS")
        reset_peak()
        cpu = time.process_time()
        try:
            return select(ctx, k)
        finally:
            facts["cpu"] = time.process_time() - cpu
            facts["query"] = status_mib("VmHWM")

    return wrapper


def compose_round(name: str, size: int, query_size: int, overrides: list[str]) -> Any:
    """The config of a round with ``size`` unlabeled inputs, ``query_size`` of them queried."""
    from hydra import compose, initialize_config_module

    initial, n = 20, size + 20 + TEST
    with initialize_config_module(config_module="al_cli.configs", version_base="1.3"):
        return compose(
            "config",
            overrides=[
                "dataset=synthetic",
                "dataset.n_features=32",
                f"dataset.n_samples={n}",
                f"dataset.test_fraction={TEST / n!r}",
                f"strategy={OLD.get(name, name)}",
                f"budget.initial={initial}",
                f"budget.query_size={query_size}",
                f"budget.max_labels={initial + query_size}",
                "device=cpu",
                "threads=1",
                *overrides,
            ],
        )


def one_query(name: str, size: int, query_size: int, overrides: list[str]) -> dict[str, Any]:
    """Set up, fit and query once, as a round of ``al run`` does; the row for the table."""
    from al_cli.loop import one_round, start
    from al_cli.setup import setup

    code_for(name)
    cfg = compose_round(name, size, query_size, overrides)
    gc.collect()
    LIBC.malloc_trim(0)  # memory freed by earlier rounds goes back: it is not this round's
    reset_peak()
    load = os.getloadavg()[0]
    exp = setup(cfg)
    pool, _, _ = start(exp, None, keep_model=False)
    unlabeled = len(pool.unlabeled_indices())
    facts: dict[str, float] = {}
    exp.strategy.select = measured(exp.strategy.select, facts)
    row, chosen = one_round(exp, cfg.seed, pool, 0)
    picks = np.asarray(chosen.positions, dtype=np.int64)
    return {
        "strategy": name,
        "size": size,
        "unlabeled": unlabeled,
        "query_s": row["query_seconds"],
        "query_cpu_s": round(facts["cpu"], 4),
        "train_s": row["train_seconds"],
        "query_mib": round(facts["query"] - facts["rss"], 1),
        "round_mib": round(max(facts["before"], facts["query"]), 1),
        "picks": hashlib.sha1(picks.tobytes()).hexdigest()[:10],
        "load": round(load, 2),
    }


def run_child(runs: list[tuple[str, int]], query_size: int, overrides: list[str]) -> None:
    """Every run in order, after a warm-up round of each strategy; a JSON line per run."""
    import functools

    from al_cli import setup as building
    from al_cli.strategies import diversity, gradient

    torch.set_num_threads(1)
    NOW.update(
        nearest_distinct=diversity.nearest_distinct,
        kmeanspp_gradients=gradient.kmeanspp_gradients,
    )
    print(json.dumps({"torch": torch.__version__}), flush=True)
    # every size's data set is made once, first, and held: each round starts with all of them
    building.load_dataset = functools.lru_cache(maxsize=None)(building.load_dataset)
    for size in sorted({WARM_UP} | {s for _, s in runs}):
        building.load_dataset(compose_round("random", size, query_size, overrides).dataset)
    for name in dict.fromkeys(n for n, _ in runs):
        one_query(name, WARM_UP, query_size, overrides)
    print(json.dumps({"warm": True}), flush=True)
    for name, size in runs:
        print(json.dumps(one_query(name, size, query_size, overrides)), flush=True)


# -- the parent: the plan, the child, the tables ----------------------------------------------


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it (a VM's may be short: "AMD EPYC")."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def growth(values: list[float | None], sizes: list[int]) -> str:
    """Growth per 10x between consecutive sizes: (v2 / v1) ** (1 / log10(n2 / n1))."""
    out = []
    for i in range(len(sizes) - 1):
        v1, v2, ratio = values[i], values[i + 1], sizes[i + 1] / sizes[i]
        out.append(f"x{(v2 / v1) ** (1 / math.log10(ratio)):.1f}" if v1 and v2 else "-")
    return ", ".join(out)


def number(v: float) -> str:
    """Three significant digits, or whole numbers from 100 up."""
    return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"


def table(rows: list[dict[str, Any]], names: list[str], sizes: list[int], key: str) -> str:
    """A Markdown table of one measure by strategy and size, with its growth per 10x."""
    by = {(r["strategy"], r["size"]): r for r in rows}
    heads = [f"N = {n:,}" for n in sizes] + ["growth per 10x"]
    lines = ["| strategy | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for name in names:
        got = [by.get((name, n), {}) for n in sizes]
        cells = [number(r[key]) if key in r else "-" for r in got]
        cells.append(growth([r.get(key) for r in got], sizes))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def same_picks(rows: list[dict[str, Any]]) -> str:
    """Whether each old variant picked what its strategy picks now, size by size."""
    by = {(r["strategy"], r["size"]): r["picks"] for r in rows}
    out = []
    for old, new in OLD.items():
        sizes = sorted(n for s, n in by if s == old and (new, n) in by)
        if sizes:
            same = ", ".join(f"N = {n:,}: {by[(old, n)] == by[(new, n)]}" for n in sizes)
            out.append(f"{old} picks the same as {new}: {same}")
    return "\n".join(out)


def plan(a: argparse.Namespace) -> tuple[list[str], list[int], list[tuple[str, int]]]:
    """Strategy names, sizes, and the (name, size) runs in order: strategy by strategy, sizes
    in increasing order, each old variant right after its strategy at the same size (so that
    the runs a growth or a before/after ratio compares are minutes apart, under like load)."""
    names = list(STRATEGIES) if a.strategies == "all" else a.strategies.split(",")
    if a.old:
        names = [m for n in names for m in (n, *(o for o, s in OLD.items() if s == n))]
    sizes = [int(s) for s in a.sizes.split(",")]
    extra: dict[int, list[str]] = {}
    for spec in a.extra:
        size, _, which = spec.partition(":")
        extra[int(size)] = which.split(",")
    names += [n for spec in extra.values() for n in spec if n not in names]
    unknown = sorted(set(names) - set(STRATEGIES) - set(OLD))
    if unknown:
        raise SystemExit(f"unknown strategies: {', '.join(unknown)}")
    every = sorted(set(sizes) | set(extra))
    runs = []
    for base in dict.fromkeys(OLD.get(n, n) for n in names):
        group = [n for n in names if OLD.get(n, n) == base]
        runs += [(n, s) for s in every for n in group if s in sizes or n in extra.get(s, [])]
    return names, every, runs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="10000,100000,1000000", help="unlabeled pool sizes")
    p.add_argument("--strategies", default="all", help="comma-separated names, or all")
    p.add_argument("--old", action="store_true", help="kmeans-old, badge-old after their own")
    p.add_argument("--extra", action="append", default=[], help="SIZE:NAME,...: also these")
    p.add_argument("--query-size", type=int, default=100)
    p.add_argument("--tables", metavar="LOG", help="print the tables of a saved output again")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("overrides", nargs="*", help="Hydra overrides for every round")
    a = p.parse_args()
    if a.child:
        run_child(json.loads(a.child), a.query_size, a.overrides)
        return
    if a.tables:
        with open(a.tables) as f:
            rows = [json.loads(line[line.index("{") :]) for line in f if '{"strategy"' in line]
        names = list(dict.fromkeys(r["strategy"] for r in rows))
        print_tables(rows, names, sorted({r["size"] for r in rows}))
        return
    names, sizes, runs = plan(a)
    print(
        f"# {cpu_model()}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"1 torch thread, b={a.query_size}, {' '.join(a.overrides) or 'default training'}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--child", json.dumps(runs), "--query-size"]
    cmd += [str(a.query_size), *a.overrides]
    t0 = time.perf_counter()
    rows = []
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) as child:
        for line in child.stdout:
            print(f"{time.perf_counter() - t0:7.0f} s  {line.rstrip()}", flush=True)
            if line.startswith('{"strategy"'):
                rows.append(json.loads(line))
    if child.returncode:
        print(f"# the child stopped with exit status {child.returncode}", flush=True)
    print(
        f"\n# {time.perf_counter() - t0:.0f} s in all; "
        f"load now {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print_tables(rows, names, sizes)


def print_tables(rows: list[dict[str, Any]], names: list[str], sizes: list[int]) -> None:
    """Every measure's table, then whether the old variants picked the same."""
    for key, what in MEASURES.items():
        print(f"\n{what}\n\n{table(rows, names, sizes, key)}")
    print("\n" + same_picks(rows))


if __name__ == "__main__":
    main()
