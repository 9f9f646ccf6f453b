"""The round loop: fit, evaluate, select, reveal, record. Nothing strategy-specific lives here.

Every round is seeded from (seed, round, purpose), so a run resumed from the checkpoint of its
last completed round replays exactly what an uninterrupted run would have done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from al_cli.config import ConfigError
from al_cli.data import DataSplit, Oracle, Pool
from al_cli.learner import Learner
from al_cli.metrics import evaluate
from al_cli.results import Recorder
from al_cli.seeding import derive_seed, numpy_rng, torch_generator
from al_cli.strategies import Context, Strategy
from al_cli.trainer import TrainingDiverged


@dataclass(frozen=True)
class Budget:
    initial: int
    initial_balanced: bool
    query_size: int
    max_labels: int


class Interrupted(Exception):
    """A stop was asked for (SIGINT, SIGTERM); every completed round is saved."""

    def __init__(self, next_round: int):
        super().__init__(f"stopped before round {next_round}")
        self.next_round = next_round


class OutOfMemory(ConfigError):
    """The device ran out of memory during a round."""


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA/MPS out-of-memory, or a CPU allocation that failed."""
    text = str(err)
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError)
        and ("out of memory" in text or "can't allocate memory" in text)
    )


def round_error(err: BaseException, round_: int, device: torch.device) -> ConfigError | None:
    """A user-fixable failure inside round ``round_`` as one clear line; None for a bug."""
    if isinstance(err, TrainingDiverged):
        return TrainingDiverged(f"round {round_}: {err}")
    if is_out_of_memory(err):
        return OutOfMemory(
            f"round {round_}: out of memory on {device}; lower trainer.batch_size or "
            f"trainer.eval_batch_size, or use a smaller model"
        )
    if isinstance(err, RuntimeError) and "use_deterministic_algorithms" in str(err):
        first = str(err).splitlines()[0]
        return ConfigError(f"round {round_}: {first}; set deterministic=false for this run")
    return None


def posterior_state(learner: Learner) -> dict | None:
    """The posterior's trained networks, or None for a posterior that cannot save them."""
    state_dict = getattr(learner.posterior, "state_dict", None)
    return None if state_dict is None else state_dict()


def restore_pool(pool: Pool, oracle: Oracle, checkpoint: dict[str, Any]) -> None:
    """Reveal the checkpoint's labeled indices again, round by round, in acquisition order."""
    labeled, rounds = checkpoint["labeled"], checkpoint["rounds"]
    if max(labeled, default=-1) >= pool.size:
        raise ConfigError(_changed_data)
    for r in sorted(set(rounds)):
        idx = np.asarray([i for i, ri in zip(labeled, rounds, strict=True) if ri == r])
        pool.add(idx, oracle.reveal(idx), r)
    if pool.labels != list(checkpoint["labels"]):
        raise ConfigError(_changed_data)


_changed_data = (
    "the data set's labels differ from those in the run folder's checkpoint (its files changed "
    "since the run started); rerun with resume=false to start over"
)


@dataclass
class Experiment:
    """Everything a run is built from, checked: made by ``setup`` before any file is written."""

    split: DataSplit
    oracle: Oracle
    learner: Learner
    strategy: Strategy
    budget: Budget
    initial: np.ndarray
    identity: dict[str, Any]
    device: torch.device


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
    exp: Experiment,
    seed: int,
    recorder: Recorder,
    resume: dict[str, Any] | None = None,
    keep_model: bool = False,
    stop_requested: Callable[[], bool] = lambda: False,
) -> None:
    """Run AL rounds until ``budget.max_labels`` labels or an empty pool; a row per round.

    ``resume``: a checkpoint to continue from (``exp.initial`` is then ignored). ``keep_model``:
    save the posterior's networks in every checkpoint (warm start needs them to resume).
    ``stop_requested`` is asked after each saved round; if it says yes, ``Interrupted``.
    """
    split, oracle, learner, budget = exp.split, exp.oracle, exp.learner, exp.budget
    pool = Pool(len(split.pool_x))
    if resume is None:
        pool.add(exp.initial, oracle.reveal(exp.initial), round_=0)
        new_queries = [
            {"round": 0, "pool_index": int(i), "label": int(y)}
            for i, y in zip(pool.labeled_idx, pool.labels, strict=True)
        ]
        round_ = 0
    else:
        restore_pool(pool, oracle, resume)
        new_queries = []
        round_ = int(resume["next_round"])
        if keep_model:
            if resume.get("posterior") is None:
                raise ConfigError(
                    f"this warm-started run cannot resume: its checkpoint holds no networks "
                    f"(strategy.posterior={learner.posterior.name} cannot save them); "
                    f"rerun with resume=false"
                )
            learner.posterior.load_state_dict(resume["posterior"])
    left = -(-(budget.max_labels - pool.n_labeled) // budget.query_size)
    bar = tqdm(
        total=round_ + 1 + max(0, left),
        initial=round_,
        desc="rounds",
        unit="round",
        disable=None,
        leave=False,
    )
    try:
        while True:
            row, chosen = one_round(split, learner, exp.strategy, budget, seed, pool, round_)
            row = {**exp.identity, **row}
            if len(chosen):
                labels = oracle.reveal(chosen)
                pool.add(chosen, labels, round_ + 1)
                new_queries += [
                    {"round": round_ + 1, "pool_index": int(i), "label": int(y)}
                    for i, y in zip(chosen, labels, strict=True)
                ]
            state = {
                "next_round": round_ + 1,
                "finished": len(chosen) == 0,
                "labeled": list(pool.labeled_idx),
                "labels": list(pool.labels),
                "rounds": list(pool.rounds),
                "posterior": posterior_state(learner) if keep_model else None,
            }
            recorder.record(row, new_queries, state)
            new_queries = []
            tqdm.write(
                f"round {round_:3d}  labels {row['n_labeled']:5d}  "
                f"accuracy {row['test_accuracy']:.4f}  nll {row['test_nll']:.4f}  "
                f"ece {row['test_ece']:.4f}  train {row['train_seconds']:.2f}s  "
                f"query {row['query_seconds']:.2f}s"
            )
            bar.update(1)
            if len(chosen) == 0:
                break
            round_ += 1
            if stop_requested():
                raise Interrupted(round_)
    except (RuntimeError, ConfigError) as err:
        clear = round_error(err, round_, learner.device)
        if clear is None:
            raise
        raise clear from None
    finally:
        bar.close()


def one_round(
    split: DataSplit,
    learner: Learner,
    strategy: Strategy,
    budget: Budget,
    seed: int,
    pool: Pool,
    round_: int,
) -> tuple[dict[str, Any], np.ndarray]:
    """Fit, evaluate and select once: the round's row (without identity) and chosen indices."""
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
        "round": round_,
        "n_labeled": pool.n_labeled,
        **metrics,
        "train_seconds": round(train_seconds, 4),
        "query_seconds": round(query_seconds, 4),
        "eval_seconds": round(eval_seconds, 4),
    }
    return row, chosen
