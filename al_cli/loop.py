"""The round loop: fit, evaluate, select, reveal, record. Nothing strategy-specific lives here.

Every round is seeded from (seed, round, purpose), so a run resumed from the checkpoint of its
last completed round replays exactly what an uninterrupted run would have done.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from al_cli import progress
from al_cli.data import DataSplit, Oracle, Pool
from al_cli.errors import UserError
from al_cli.learner import Learner
from al_cli.metrics import evaluate, validation_metrics
from al_cli.representations.base import Features
from al_cli.results import Recorder
from al_cli.seeding import derive_seed, numpy_rng, torch_generator
from al_cli.strategies import Context, Selection, Strategy
from al_cli.strategies.base import check_selection  # noqa: F401  (the loop's check, re-exported)
from al_cli.trainer import TrainingDiverged


@dataclass(frozen=True)
class Budget:
    """``budget.*``, checked once at set-up (``setup.check_budget``)."""

    initial: int
    initial_balanced: bool
    query_size: int
    max_labels: int
    validation: int = 0
    """The validation set's labels when the budget pays for them (``budget.count_validation``):
    counted against ``max_labels`` and in the curve's ``n_labeled``; 0 when they are free."""

    def batch(self, n_labeled: int, n_unlabeled: int) -> int:
        """This round's batch, ``n_labeled`` labels in the pool: the query size, or what is
        left of the budget or the pool."""
        left = self.max_labels - self.validation - n_labeled
        return max(0, min(self.query_size, left, n_unlabeled))

    def rounds_left(self, n_labeled: int) -> int:
        """Queries still to make from ``n_labeled`` pool labels (the pool may end them sooner)."""
        return max(0, -(-(self.max_labels - self.validation - n_labeled) // self.query_size))


class Interrupted(Exception):
    """A stop was asked for (SIGINT, SIGTERM); every completed round is saved."""

    def __init__(self, next_round: int):
        super().__init__(f"stopped before round {next_round}")
        self.next_round = next_round


class OutOfMemory(UserError):
    """The device ran out of memory during a round."""


def is_out_of_memory(err: BaseException) -> bool:
    """CUDA/MPS out-of-memory, or a CPU allocation that failed."""
    text = str(err)
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError)
        and ("out of memory" in text or "can't allocate memory" in text)
    )


def round_error(err: BaseException, round_: int, device: torch.device) -> UserError | None:
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
        return UserError(f"round {round_}: {first}; set deterministic=false for this run")
    return None


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
    features: Features | None = None
    """The run's representation (``representation=``), None without one."""
    representation: dict[str, Any] | None = None
    """What run.json records of it: name, cache key and file (``representations.load_features``)."""


# -- starting or resuming -------------------------------------------------------------------


_changed_data = (
    "the data set's labels differ from those in the run folder's checkpoint (its files changed "
    "since the run started); rerun with resume=false to start over"
)


def restore_pool(pool: Pool, oracle: Oracle, checkpoint: dict[str, Any]) -> None:
    """Reveal the checkpoint's labeled indices again, round by round, in acquisition order."""
    labeled, rounds = checkpoint["labeled"], checkpoint["rounds"]
    if max(labeled, default=-1) >= pool.size:
        raise UserError(_changed_data)
    for r in sorted(set(rounds)):
        idx = np.asarray([i for i, ri in zip(labeled, rounds, strict=True) if ri == r])
        pool.add(idx, oracle.reveal(idx), r)
    if pool.labels != list(checkpoint["labels"]):
        raise UserError(_changed_data)


def check_resumable(resume: dict[str, Any], keep_model: bool, posterior: str) -> None:
    """Refuse to resume a warm-started run whose checkpoint holds no networks (its posterior
    cannot save them): called before a run says it resumes, so it never says both."""
    if keep_model and resume.get("posterior") is None:
        raise UserError(
            f"this warm-started run cannot resume: its checkpoint holds no networks "
            f"(posterior={posterior} cannot save them); rerun with resume=false"
        )


def start(
    exp: Experiment, seed: int, resume: dict[str, Any] | None, keep_model: bool
) -> tuple[Pool, int, list[dict[str, Any]]]:
    """The pool, the first round to run and the queries not yet recorded: the initial set (or
    the strategy's first batch, ``cold_start``) for a new run, the checkpoint's labels (and
    networks, for a warm start) for a resumed one."""
    pool = Pool(len(exp.split.pool_x))
    if resume is None and len(exp.initial) == 0:
        return pool, 0, cold_start(exp, seed, pool)
    if resume is None:
        labels = exp.oracle.reveal(exp.initial)
        pool.add(exp.initial, labels, round_=0)
        return pool, 0, query_rows(exp.initial, labels, 0, None)
    restore_pool(pool, exp.oracle, resume)
    if keep_model:
        check_resumable(resume, keep_model, exp.identity["posterior"])
        exp.learner.posterior.load_state_dict(resume["posterior"])
    return pool, int(resume["next_round"]), []


# -- one round ------------------------------------------------------------------------------


def make_context(
    learner: Learner,
    pool_x: torch.Tensor,
    pool: Pool,
    seed: int,
    round_: int,
    features: torch.Tensor | None = None,
    purpose: str = "select",
) -> Context:
    """The strategy's view of a round: inputs, revealed labels, seeded generators; no oracle.
    ``features``: the representation of the pool, row for row with ``pool_x`` (None: none).
    ``purpose`` seeds the generators with the round (``cold_start``'s pick draws apart)."""
    unlabeled = torch.as_tensor(pool.unlabeled_indices())
    labeled = torch.as_tensor(pool.labeled_indices())
    return Context(
        learner=learner,
        unlabeled_x=pool_x[unlabeled],
        labeled_x=pool_x[labeled],
        labeled_y=pool.revealed_labels(),
        rng=numpy_rng(seed, purpose, round_),
        generator=torch_generator(seed, purpose, round_),
        round=round_,
        unlabeled_features=None if features is None else features[unlabeled],
        labeled_features=None if features is None else features[labeled],
    )


def select(
    exp: Experiment, seed: int, pool: Pool, round_: int, purpose: str = "select"
) -> Selection | None:
    """The strategy's batch for this round, its positions mapped to pool indices; None when
    the budget or the pool is spent."""
    unlabeled = pool.unlabeled_indices()
    k = exp.budget.batch(pool.n_labeled, len(unlabeled))
    if k == 0:
        return None
    features = None if exp.features is None else exp.features.pool
    ctx = make_context(exp.learner, exp.split.pool_x, pool, seed, round_, features, purpose)
    sel = check_selection(exp.strategy.select(ctx, k), k, len(unlabeled), exp.strategy)
    return Selection(unlabeled[sel.positions], sel.scores, sel.diagnostics)


def cold_start(exp: Experiment, seed: int, pool: Pool) -> list[dict[str, Any]]:
    """``budget.initial=0``: with no label to train on, the strategy (one that needs no trained
    model, checked at set-up) picks round 0's training set itself, as TypiClust and ProbCover
    do; its picks and scores are round 0's queries. No curve row is written at 0 labels: round
    0's row is the first, after this batch is revealed (its diagnostics are not recorded)."""
    chosen = select(exp, seed, pool, 0, purpose="cold_start")
    if chosen is None:  # set-up refuses a budget without a label to spend
        raise RuntimeError("a cold start with nothing to select")
    labels = exp.oracle.reveal(chosen.positions)
    pool.add(chosen.positions, labels, 0)
    return query_rows(chosen.positions, labels, 0, chosen.scores)


def one_round(
    exp: Experiment, seed: int, pool: Pool, round_: int
) -> tuple[dict[str, Any], Selection | None]:
    """Fit, evaluate and select once: the round's row (without identity) and the selection
    (None when the budget or the pool is spent), its positions mapped to pool indices."""
    split, learner = exp.split, exp.learner
    labeled = torch.as_tensor(pool.labeled_indices())
    x_lab, y_lab = split.pool_x[labeled], pool.revealed_labels()

    t0 = time.perf_counter()
    training = learner.fit(x_lab, y_lab, derive_seed(seed, "fit", round_))
    train_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    metrics = evaluate(learner.predict_proba(split.test_x), split.test_y)
    if split.val_x is not None:
        metrics |= validation_metrics(learner.predict_proba(split.val_x), split.val_y)
    eval_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    chosen = select(exp, seed, pool, round_)
    query_seconds = time.perf_counter() - t0 if chosen is not None else 0.0

    row = {
        "round": round_,
        "n_labeled": pool.n_labeled + exp.budget.validation,
        **metrics,
        **training,
        "train_seconds": round(train_seconds, 4),
        "query_seconds": round(query_seconds, 4),
        "eval_seconds": round(eval_seconds, 4),
        **{name: chosen.diagnostics[name] if chosen else "" for name in exp.strategy.diagnostics},
    }
    return row, chosen


# -- bookkeeping and logging ----------------------------------------------------------------


def query_rows(
    indices: np.ndarray, labels: torch.Tensor, round_: int, scores: np.ndarray | None
) -> list[dict[str, Any]]:
    """Rows of queries.csv: the first round whose training set holds each label, and the
    score it was chosen by (empty for the initial set and unscored picks)."""
    values = [""] * len(indices) if scores is None else [float(s) for s in scores]
    return [
        {"round": round_, "pool_index": int(i), "label": int(y), "score": _finite(s)}
        for i, y, s in zip(indices, labels, values, strict=True)
    ]


def _finite(score: float | str) -> float | str:
    """A score as written to the CSV: NaN (no score for this pick) is left empty."""
    return "" if isinstance(score, float) and math.isnan(score) else score


def posterior_state(learner: Learner) -> dict | None:
    """The posterior's trained networks, or None for a posterior that cannot save them."""
    return learner.posterior.state_dict()


def log_round(row: dict[str, Any]) -> None:
    logging.getLogger("al").info(
        f"round {row['round']:3d}  labels {row['n_labeled']:5d}  "
        f"accuracy {row['test_accuracy']:.4f}  nll {row['test_nll']:.4f}  "
        f"ece {row['test_ece']:.4f}  train {row['train_seconds']:.2f}s  "
        f"query {row['query_seconds']:.2f}s"
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
    pool, round_, new_queries = start(exp, seed, resume, keep_model)
    bar = tqdm(
        total=round_ + 1 + exp.budget.rounds_left(pool.n_labeled),
        initial=round_,
        desc="rounds",
        unit="round",
        disable=not progress.shown(),
        leave=False,
    )
    try:
        while True:
            row, chosen = one_round(exp, seed, pool, round_)
            row = {**exp.identity, **row}
            if chosen is not None:
                labels = exp.oracle.reveal(chosen.positions)
                pool.add(chosen.positions, labels, round_ + 1)
                new_queries += query_rows(chosen.positions, labels, round_ + 1, chosen.scores)
            state = {
                "next_round": round_ + 1,
                "finished": chosen is None,
                "labeled": list(pool.labeled_idx),
                "labels": list(pool.labels),
                "rounds": list(pool.rounds),
                "posterior": posterior_state(exp.learner) if keep_model else None,
            }
            recorder.record(row, new_queries, state)
            new_queries = []
            log_round(row)
            bar.update(1)
            if chosen is None:
                break
            round_ += 1
            if stop_requested():
                raise Interrupted(round_)
    except (RuntimeError, UserError) as err:
        clear = round_error(err, round_, exp.learner.device)
        if clear is None:
            raise
        raise clear from None
    finally:
        bar.close()
