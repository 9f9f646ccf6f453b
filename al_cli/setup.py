"""Building an experiment from its config: the settings checked, then the data, the
networks, the posterior, the strategy and the first labels. Nothing here reads or writes the
run folder (``run_folder``), and nothing here runs a round (``loop``).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from al_cli.build import target_class
from al_cli.config import option_name
from al_cli.data import DataSplit, Oracle, load_dataset, place_inputs
from al_cli.data.validation import check_val_size, hold_out
from al_cli.errors import UserError
from al_cli.learner import Learner
from al_cli.loop import Budget, Experiment
from al_cli.posteriors import build_posterior, network_factory
from al_cli.representations import (
    Features,
    build_representation,
    features_as_inputs,
    load_features,
)
from al_cli.seeding import check_seed, numpy_rng
from al_cli.strategies import (
    build_strategy,
    check_cold_start,
    check_compatible,
    check_representation,
)
from al_cli.strategies.base import Strategy
from al_cli.trainer import TrainerSettings, check_trainer


def set_deterministic(on: bool) -> None:
    """torch's deterministic algorithms; cuBLAS needs its workspace variable before first use."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(on)


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
        raise UserError(f"device={name!r} is not a device; use auto, cpu, cuda or mps") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device={name} but CUDA is not available here; use device=auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device={name} but MPS is not available here; use device=auto or cpu")
    return device


def check_budget(cfg: DictConfig) -> Budget:
    """The ``budget`` group as a :class:`Budget`, refused unless it can make a run: the one
    place its values are read from the config."""
    b = Budget(
        initial=cfg.initial,
        initial_balanced=cfg.initial_balanced,
        query_size=cfg.query_size,
        max_labels=cfg.max_labels,
    )
    if b.initial < 0:
        raise UserError(f"budget.initial={b.initial} must be 0 (a cold start) or more")
    if b.max_labels < 1:
        raise UserError(f"budget.max_labels={b.max_labels} must be at least 1")
    if b.query_size <= 0:
        raise UserError(f"budget.query_size={b.query_size} must be a positive integer")
    if b.max_labels < b.initial:
        raise UserError(
            f"budget.max_labels={b.max_labels} is below budget.initial={b.initial}; "
            f"raise budget.max_labels or lower budget.initial"
        )
    return b


def check_budget_fits(budget: Budget, pool_size: int) -> None:
    """Refuse a budget the pool cannot meet, rather than run until the pool is spent and call
    that finished: the run would not be the experiment its settings name."""
    for key, value in (("initial", budget.initial), ("max_labels", budget.max_labels)):
        if value > pool_size:
            raise UserError(
                f"budget.{key}={value} is larger than the pool ({pool_size} inputs); set "
                f"budget.{key} to at most {pool_size}"
            )


def check_validation(cfg: DictConfig, budget: Budget, pool_size: int) -> Budget:
    """Refuse a validation split the pool or the budget cannot give, or a trainer that selects
    on one that is not there; returns the budget with the validation labels it pays for."""
    val_size = int(cfg.dataset.get("val_size", 0))
    if cfg.trainer.select_on_val and val_size == 0:
        raise UserError(
            "trainer.select_on_val=true needs a validation set, but dataset.val_size=0; set "
            "dataset.val_size to the inputs to hold out, or trainer.select_on_val=false"
        )
    counted = val_size if cfg.budget.count_validation else 0
    if budget.max_labels - counted < max(budget.initial, 1):
        raise UserError(
            f"budget.max_labels={budget.max_labels} leaves {budget.max_labels - counted} labels "
            f"for the pool once budget.count_validation=true pays for dataset.val_size="
            f"{val_size}, fewer than budget.initial={budget.initial} (or 1); raise "
            f"budget.max_labels or lower dataset.val_size"
        )
    key = "budget.max_labels" + (" less dataset.val_size" if counted else "")
    check_val_size(val_size, pool_size, budget.max_labels - counted, key)
    return replace(budget, validation=counted)


def hold_out_validation(
    cfg: DictConfig, split: DataSplit, features: Features | None
) -> tuple[DataSplit, Features | None]:
    """The split with its validation set held out of the pool (``dataset.val_size``), drawn
    from ``dataset.split_seed`` (0 for a data set without one), and the representation's pool
    rows that stay. The representation is computed on the whole pool, labels unseen, so one
    cached file serves every ``val_size``."""
    seed = cfg.dataset.get("split_seed", 0)
    split, keep = hold_out(split, int(cfg.dataset.get("val_size", 0)), numpy_rng(seed, "val"))
    if features is not None:
        rows = torch.as_tensor(keep, device=features.pool.device)
        features = Features(features.pool[rows], features.test)
    return split, features


def check_settings(cfg: DictConfig) -> Budget:
    """Refuse, before anything is read or written, settings that setup's builders accept but
    that cannot mean what they say; returns the checked budget."""
    check_seed("seed", cfg.seed)
    budget = check_budget(cfg.budget)
    # a strategy of the user's own, without a schema, may have no candidates key
    candidates = cfg.strategy.get("candidates")
    if isinstance(candidates, int) and 0 < candidates <= budget.query_size:
        raise UserError(
            f"strategy.candidates={candidates} must exceed budget.query_size="
            f"{budget.query_size}: the batch would take every candidate, a random subset, "
            f"whatever the strategy scores; raise strategy.candidates or set it to null (the "
            f"whole pool)"
        )
    return budget


def option_names(cfg: DictConfig) -> dict[str, str]:
    """The chosen option of each built group, by the name its folders and plots use."""
    return {g: option_name(cfg[g], g) for g in ("dataset", "model", "posterior", "strategy")}


def trains_on_representation(cfg: DictConfig) -> bool:
    """Whether the model option's class trains on the run's representation instead of the
    data set's inputs (it says ``inputs = "representation"``, as ``model=head`` does); refused
    in one line where the run has none, or augments images the model never sees."""
    cls = target_class(cfg.model, "model", nn.Module, "a network")
    if getattr(cls, "inputs", None) != "representation":
        return False
    name = option_name(cfg.model, "model")
    if cfg.representation.get("_target_") is None:
        raise UserError(
            f"model={name} trains on the run's representation, but representation=none; set "
            f"representation=simclr (or pca, torchvision, file)"
        )
    if cfg.dataset.get("augment"):
        raise UserError(
            f"dataset.augment=true augments images, but model={name} trains on the "
            f"representation's features; set dataset.augment=false"
        )
    return True


def build_learner(
    cfg: DictConfig,
    trainer: TrainerSettings,
    split: DataSplit,
    device: torch.device,
    strategy: Strategy,
    names: dict[str, str],
    input_shape: tuple[int, ...] | None = None,
    validation: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Learner:
    """The network factory, posterior and learner for ``split``'s inputs (or inputs of
    ``input_shape``), checked against what the strategy needs; a model config that cannot
    build fails here, before any file is written. ``validation``: what ``trainer.select_on_val``
    picks the epoch on."""
    shape = input_shape or split.input_shape
    factory = network_factory(cfg.model, trainer, shape, split.num_classes, device, split.augment)
    factory.build(0)
    factory.validation = validation
    posterior = build_posterior(cfg.posterior, factory)
    check_compatible(strategy, posterior.provides, names)
    return Learner(posterior, device, trainer.eval_batch_size)


def setup(cfg: DictConfig) -> Experiment:
    """Build a run from its config; raises UserError for a mistake the user can fix."""
    budget = check_settings(cfg)
    names = option_names(cfg)
    trainer = check_trainer(cfg.trainer)
    device = resolve_device(cfg.device)
    strategy = build_strategy(cfg.strategy)
    representation = build_representation(cfg.representation)
    check_representation(strategy, representation is not None, names)
    check_cold_start(strategy, budget.initial, names["strategy"])
    on_features = trains_on_representation(cfg)
    split = place_inputs(load_dataset(cfg.dataset), device)
    check_budget_fits(budget, len(split.pool_x))
    budget = check_validation(cfg, budget, len(split.pool_x))
    # a model on the representation is checked on one stand-in feature before it is computed
    shape = (1,) if on_features else None
    learner = build_learner(cfg, trainer, split, device, strategy, names, shape)
    # computed (or read from the cache) last, once every setting has been accepted
    features, used = (
        load_features(representation, cfg, split, device) if representation else (None, None)
    )
    if on_features:
        split = features_as_inputs(split, features)
    split, features = hold_out_validation(cfg, split, features)
    if on_features or trainer.select_on_val:
        val = (split.val_x, split.val_y) if trainer.select_on_val else None
        learner = build_learner(cfg, trainer, split, device, strategy, names, validation=val)
    oracle = Oracle(split.pool_y)
    initial = oracle.draw_initial(
        budget.initial, budget.initial_balanced, numpy_rng(cfg.seed, "initial")
    )
    identity: dict[str, Any] = {
        "dataset": names["dataset"],
        "model": names["model"],
        "strategy": names["strategy"],
        "posterior": names["posterior"],
        "posterior_samples": learner.n_samples,
        **strategy.describe(),
        "seed": cfg.seed,
    }
    return Experiment(
        split, oracle, learner, strategy, budget, initial, identity, device, features, used
    )
