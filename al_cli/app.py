"""The Hydra task behind ``al run``: compose, check, build, loop.

Kept importable on its own: submitit and joblib workers unpickle ``main`` from here and never
run the CLI module, so the schemas are registered by importing ``al_cli.config`` here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from al_cli.config import ConfigError
from al_cli.data import DataSplit, Oracle, load_dataset, place_inputs
from al_cli.learner import Learner
from al_cli.loop import Budget, run_rounds
from al_cli.posteriors import NetworkFactory, make_posterior
from al_cli.results import Recorder
from al_cli.seeding import numpy_rng
from al_cli.strategies import Strategy, build_strategy, check_compatible
from al_cli.trainer import check_trainer


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, else CPU; an explicit device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"device={name!r} is not a device; use auto, cpu, cuda or mps") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name} but CUDA is not available here; use device=auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device={name} but MPS is not available here; use device=auto or cpu")
    return device


def check_budget(cfg: DictConfig) -> Budget:
    b = Budget(
        initial=cfg.initial,
        initial_balanced=cfg.initial_balanced,
        query_size=cfg.query_size,
        max_labels=cfg.max_labels,
    )
    if b.initial < 1:
        raise ConfigError(f"budget.initial={b.initial} must be at least 1")
    if b.query_size <= 0:
        raise ConfigError(f"budget.query_size={b.query_size} must be a positive integer")
    if b.max_labels < b.initial:
        raise ConfigError(
            f"budget.max_labels={b.max_labels} is below budget.initial={b.initial}; "
            f"raise budget.max_labels or lower budget.initial"
        )
    return b


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


def setup(cfg: DictConfig) -> Experiment:
    """Build a run from its config; raises ConfigError for a mistake the user can fix."""
    budget = check_budget(cfg.budget)
    check_trainer(cfg.trainer)
    device = resolve_device(cfg.device)
    split = place_inputs(load_dataset(cfg.dataset), device)
    if budget.initial > len(split.pool_x):
        raise ConfigError(
            f"budget.initial={budget.initial} is larger than the pool ({len(split.pool_x)} "
            f"inputs); set budget.initial to at most {len(split.pool_x)}"
        )
    factory = NetworkFactory(
        cfg.model, cfg.trainer, split.input_shape, split.num_classes, device, split.augment
    )
    factory.build(0)  # a model config that cannot build fails here, before any file is written
    learner = Learner(make_posterior(cfg.strategy, factory), device, cfg.trainer.eval_batch_size)
    strategy = build_strategy(cfg.strategy)
    check_compatible(strategy, learner.provides, learner.n_samples, cfg.strategy)
    oracle = Oracle(split.pool_y)
    initial = oracle.draw_initial(
        budget.initial, budget.initial_balanced, numpy_rng(cfg.seed, "initial")
    )
    identity: dict[str, Any] = {
        "dataset": cfg.dataset.name,
        "model": cfg.model.name,
        "strategy": cfg.strategy.name,
        "posterior": cfg.strategy.posterior,
        "posterior_samples": learner.n_samples,
        **strategy.describe(),
        "seed": cfg.seed,
    }
    return Experiment(split, oracle, learner, strategy, budget, initial, identity, device)


def run_experiment(cfg: DictConfig, out_dir: Path) -> None:
    """Set up, then run every round, recording as it goes."""
    exp = setup(cfg)
    recorder = Recorder(
        out_dir,
        OmegaConf.to_container(cfg, resolve=True),
        {"device": str(exp.device), "torch_threads": torch.get_num_threads()},
    )
    recorder.start()
    print(f"al run: {cfg.strategy.name} on {cfg.dataset.name} -> {out_dir}")
    try:
        run_rounds(
            exp.split,
            exp.oracle,
            exp.learner,
            exp.strategy,
            exp.budget,
            cfg.seed,
            recorder,
            exp.identity,
            exp.initial,
        )
    except BaseException as err:
        message = str(err) if isinstance(err, ConfigError) else f"{type(err).__name__}: {err}"
        recorder.finish("failed", message)
        raise
    recorder.finish("finished")
    final = recorder.curve[-1]
    print(
        f"al run: finished {len(recorder.curve)} rounds, {final['n_labeled']} labels, "
        f"test accuracy {final['test_accuracy']:.4f}; results in {out_dir}"
    )


@hydra.main(version_base="1.3", config_path="pkg://al_cli.configs", config_name="config")
def main(cfg: DictConfig) -> None:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        run_experiment(cfg, out_dir)
    except ConfigError as err:
        print(f"al run: error: {err}", file=sys.stderr)
        sys.exit(2)
