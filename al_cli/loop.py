"""The round loop: fit, evaluate, select, reveal, record. Nothing strategy-specific lives here."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from al_cli.data import DataSplit, Oracle, Pool
from al_cli.learner import Learner
from al_cli.metrics import evaluate
from al_cli.results import Recorder
from al_cli.seeding import derive_seed, numpy_rng, torch_generator
from al_cli.strategies import Context, Strategy


@dataclass(frozen=True)
class Budget:
    initial: int
    initial_balanced: bool
    query_size: int
    max_labels: int


def check_selection(pos: np.ndarray, k: int, n_unlabeled: int, strategy: Strategy) -> np.ndarray:
    """A strategy's answer must be ``k`` distinct positions into the unlabeled set."""
    pos = np.asarray(pos, dtype=np.int64).reshape(-1)
    name = type(strategy).__name__
    if len(pos) != k:
        raise RuntimeError(f"{name} returned {len(pos)} positions, not {k}")
    if len(np.unique(pos)) != k or (k and (pos.min() < 0 or pos.max() >= n_unlabeled)):
        raise RuntimeError(f"{name} returned repeated or out-of-range positions")
    return pos


def make_context(
    learner: Learner, pool_x: torch.Tensor, pool: Pool, seed: int, round_: int
) -> Context:
    """The strategy's view of a round: inputs, revealed labels, seeded generators; no oracle."""
    return Context(
        learner=learner,
        unlabeled_x=pool_x[torch.as_tensor(pool.unlabeled_indices())],
        labeled_x=pool_x[torch.as_tensor(pool.labeled_indices())],
        labeled_y=pool.revealed_labels(),
        rng=numpy_rng(seed, "select", round_),
        generator=torch_generator(seed, "select", round_),
        round=round_,
    )


def run_rounds(
    split: DataSplit,
    oracle: Oracle,
    learner: Learner,
    strategy: Strategy,
    budget: Budget,
    seed: int,
    recorder: Recorder,
    identity: dict[str, Any],
    initial: np.ndarray,
) -> None:
    """Run AL rounds until ``budget.max_labels`` labels or an empty pool; a row per round."""
    pool = Pool(len(split.pool_x))
    pool.add(initial, oracle.reveal(initial), round_=0)
    new_queries = [
        {"round": 0, "pool_index": int(i), "label": int(y)}
        for i, y in zip(pool.labeled_idx, pool.labels, strict=True)
    ]
    total = 1 + max(0, -(-(budget.max_labels - pool.n_labeled) // budget.query_size))
    bar = tqdm(total=total, desc="rounds", unit="round", disable=None, leave=False)
    round_ = 0
    while True:
        labeled = torch.as_tensor(pool.labeled_indices())
        x_lab, y_lab = split.pool_x[labeled], pool.revealed_labels()

        t0 = time.perf_counter()
        learner.fit(x_lab, y_lab, derive_seed(seed, "fit", round_))
        train_seconds = time.perf_counter() - t0

        t0 = time.perf_counter()
        metrics = evaluate(learner.predict_proba(split.test_x), split.test_y)
        eval_seconds = time.perf_counter() - t0

        unlabeled = pool.unlabeled_indices()
        k = min(budget.query_size, budget.max_labels - pool.n_labeled, len(unlabeled))
        query_seconds = 0.0
        chosen = np.empty(0, dtype=np.int64)
        if k > 0:
            ctx = make_context(learner, split.pool_x, pool, seed, round_)
            t0 = time.perf_counter()
            pos = check_selection(strategy.select(ctx, k), k, len(unlabeled), strategy)
            query_seconds = time.perf_counter() - t0
            chosen = unlabeled[pos]

        row = {
            **identity,
            "round": round_,
            "n_labeled": pool.n_labeled,
            **metrics,
            "train_seconds": round(train_seconds, 4),
            "query_seconds": round(query_seconds, 4),
            "eval_seconds": round(eval_seconds, 4),
        }
        if k > 0:
            labels = oracle.reveal(chosen)
            pool.add(chosen, labels, round_ + 1)
            new_queries += [
                {"round": round_ + 1, "pool_index": int(i), "label": int(y)}
                for i, y in zip(chosen, labels, strict=True)
            ]
        recorder.record(row, new_queries)
        new_queries = []
        tqdm.write(
            f"round {round_:3d}  labels {row['n_labeled']:5d}  "
            f"accuracy {row['test_accuracy']:.4f}  nll {row['test_nll']:.4f}  "
            f"ece {row['test_ece']:.4f}  train {train_seconds:.2f}s  query {query_seconds:.2f}s"
        )
        bar.update(1)
        if k == 0:
            break
        round_ += 1
    bar.close()
