"""Per-round selection time of the committee, model-change, error-reduction and core-set
strategies, and k-center greedy against scikit-activeml's CoreSet, measured side by side.

Pools are synthetic embeddings (a mixture of one Gaussian per class); the learner is a real
``Learner`` whose networks are a linear head on those embeddings, so each strategy runs its own
code path (streamed samples, embeddings, last layer) and training is left out of the timing.

    pip install scikit-activeml          # benchmark only; al never imports it
    python scripts/bench_selection.py --part coreset      # k-center greedy vs scikit-activeml
    python scripts/bench_selection.py --part rounds       # per-round selection times
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import numpy as np
import torch
from hydra import compose, initialize_config_module
from omegaconf import DictConfig
from torch import nn

import al_cli.config  # noqa: F401  (registers the schemas)
from al_cli.learner import Learner
from al_cli.posteriors.deep_ensemble import DeepEnsemble
from al_cli.posteriors.deterministic import Deterministic
from al_cli.strategies import Context, build_strategy
from al_cli.strategies.diversity import k_center_greedy


class LinearHead(nn.Module):
    """A network whose penultimate embedding is its input: a last layer only."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.classifier = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.classifier.weight.copy_(weight)
            self.classifier.bias.zero_()

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)


def mixture(n: int, d: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    means = 2.0 * torch.randn(classes, d, generator=g) / d**0.25
    y = torch.randint(classes, (n,), generator=g)
    return means[y] + torch.randn(n, d, generator=g), y


def strategy_cfg(name: str) -> DictConfig:
    with initialize_config_module(config_module="al_cli.configs", version_base="1.3"):
        return compose("config", overrides=[f"strategy={name}"]).strategy


def learner_for(cfg: DictConfig, means: torch.Tensor, seed: int) -> Learner:
    """The strategy's posterior, its networks set to linear heads near the class means."""
    g = torch.Generator().manual_seed(seed)
    heads = [LinearHead(means + 0.3 * torch.randn(means.shape, generator=g)) for _ in range(5)]
    if cfg.posterior == "deep_ensemble":
        posterior = DeepEnsemble(None, cfg)
        posterior.nets = heads[: cfg.members]
    else:
        posterior = Deterministic(None, cfg)
        posterior.net = heads[0]
    return Learner(posterior, torch.device("cpu"), 1024)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_rounds(sizes: list[int], d: int, classes: int, b: int, labeled: int) -> None:
    names = ["coreset", "badge", "egl", "eer", "qbc", "kmeans"]
    print(f"\nper-round selection, {d}-d embeddings, {classes} classes, b={b}, {labeled} labeled")
    print(f"{'strategy':10s}" + "".join(f"  N={n:>6d} (s)" for n in sizes) + "  peak RSS (MiB)")
    for name in names:
        row, cfg = f"{name:10s}", strategy_cfg(name)
        for n in sizes:
            x, y = mixture(n + labeled, d, classes, seed=n)
            means = torch.stack([x[y == c].mean(0) for c in range(classes)]) / 4
            learner, strategy = learner_for(cfg, means, seed=1), build_strategy(cfg)
            ctx = Context(
                learner=learner,
                unlabeled_x=x[labeled:],
                labeled_x=x[:labeled],
                labeled_y=y[:labeled],
                rng=np.random.default_rng(0),
                generator=torch.Generator().manual_seed(0),
                round=0,
            )
            t0 = time.perf_counter()
            picks = strategy.select(ctx, b)
            row += f"  {time.perf_counter() - t0:13.2f}"
            assert len(set(np.asarray(picks).tolist())) == b
        print(row + f"  {peak_mib():14.0f}", flush=True)


def bench_coreset(n: int, d: int, b: int, labeled: int, classes: int) -> None:
    from skactiveml.pool import CoreSet

    x, _ = mixture(n, d, classes, seed=0)
    xn = x.numpy().astype(np.float64)  # the same float32 values, as scikit-activeml's input
    y = np.full(n, np.nan)
    y[:labeled] = 0  # the labeled start set: the first ``labeled`` points, for both
    print(f"\nk-center greedy: N={n} (of which {labeled} labeled), b={b}, d={d}")

    t0 = time.perf_counter()
    ours, radius = k_center_greedy(x[labeled:], x[:labeled], b, torch.Generator())
    t_al = time.perf_counter() - t0
    print(f"al k_center_greedy        {t_al:8.2f} s   covering radius {radius:.4f}", flush=True)

    t0 = time.perf_counter()
    theirs = CoreSet(random_state=0).query(xn, y, batch_size=b)
    t_sk = time.perf_counter() - t0
    print(f"scikit-activeml CoreSet   {t_sk:8.2f} s", flush=True)

    same = np.array_equal(ours + labeled, theirs)
    agree = int(np.cumprod((ours + labeled) == theirs).sum())
    print(f"speed-up {t_sk / t_al:.1f}x; identical picks: {same} (first {agree} of {b} agree)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--part", choices=["coreset", "rounds", "all"], default="all")
    p.add_argument("--threads", type=int, default=2, help="torch and BLAS threads, for both")
    p.add_argument("--sizes", default="10000,50000")
    p.add_argument("--labeled", type=int, default=1000)
    a = p.parse_args()
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(a.threads)
    threadpool_limits(a.threads)
    cpu = platform.processor() or platform.machine()
    print(f"{cpu}, {a.threads} threads, torch {torch.__version__}")
    if a.part in ("coreset", "all"):
        bench_coreset(50_000, 512, 1000, a.labeled, 10)
    if a.part in ("rounds", "all"):
        sizes = [int(s) for s in a.sizes.split(",")]
        bench_rounds(sizes, 128, 10, 100, a.labeled)


if __name__ == "__main__":
    main()
