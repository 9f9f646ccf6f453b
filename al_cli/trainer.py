"""Training one network on the labeled set: minibatch SGD-family optimisation, seeded."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn import functional as F

from al_cli.errors import UserError, check_choice, unknown
from al_cli.progress import steps
from al_cli.seeding import seeded, torch_generator

log = logging.getLogger("al")

ExtraLoss = Callable[[nn.Module, int], torch.Tensor]
"""Added to the mean cross-entropy of a batch, given the net and the number of labels."""

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
"""Transforms one training batch, drawing from the generator (see ``DataSplit.augment``)."""


OPTIMIZERS = ("adam", "adamw", "sgd")
L2_SCOPES = ("hidden", "all")
LAST_BATCH = ("keep", "drop")
SAMPLING = ("epochs", "replacement")


@dataclass(frozen=True)
class Training:
    """What one network's training did, recorded in the learning curve so that an
    undertrained network shows without an ablation: ``steps`` optimiser steps, ending at a
    mean cross-entropy of ``loss`` over the last epoch's examples (penalties left out)."""

    steps: int
    loss: float


@dataclass(frozen=True)
class TrainerSettings:
    """The ``trainer`` group, checked once (``check_trainer``) and passed down typed: the keys
    and their defaults are the schema's and ``configs/trainer/default.yaml``'s, not repeated
    here."""

    optimizer: str
    lr: float
    weight_decay: float
    l2_per_label: float
    l2_scope: str
    momentum: float
    epochs: int
    min_steps: int
    batch_size: int
    last_batch: str
    sampling: str
    eval_batch_size: int
    warm_start: bool
    amp: bool
    select_on_val: bool = False
    val_every: int = 1


class TrainingDiverged(UserError):
    """The loss became NaN or infinite: almost always a learning rate that is too high."""


def hidden_weights(net: nn.Module) -> list[nn.Parameter]:
    """The weight matrices of the Linear layers inside ``net.features`` (every Linear but the
    classifier for a plain module): what ``trainer.l2_per_label`` penalises. Never biases,
    never convolutions, as Gal et al. 2017's released code put ``l2`` on its Dense(128) only."""
    features = getattr(net, "features", net)
    last = getattr(net, "classifier", None)
    return [
        m.weight
        for m in features.modules()
        if isinstance(m, nn.Linear) and m is not last and m.weight.requires_grad
    ]


def param_groups(net: nn.Module, cfg: TrainerSettings, n: int) -> list[dict]:
    """One group with ``trainer.weight_decay``; with ``trainer.l2_per_label`` = c > 0 the
    hidden Linear weights (``trainer.l2_scope=hidden``) or every parameter (``all``) get
    ``weight_decay + 2 c / n`` instead, n the labels this round.

    Coupled weight decay wd adds ``wd * w`` to the gradient, the gradient of
    ``(wd / 2) * sum(w**2)``: so ``2 c / n`` is exactly Keras's ``l2(c / n)``, which adds
    ``(c / n) * sum(w**2)`` to the loss. A prior whose weight shrinks as labels come in."""
    params = [p for p in net.parameters() if p.requires_grad]
    c = float(cfg.l2_per_label)
    if c == 0:
        return [{"params": params, "weight_decay": cfg.weight_decay}]
    chosen = {id(p) for p in (params if cfg.l2_scope == "all" else hidden_weights(net))}
    groups = [
        {"params": [p for p in params if id(p) not in chosen], "weight_decay": cfg.weight_decay},
        {
            "params": [p for p in params if id(p) in chosen],
            "weight_decay": cfg.weight_decay + 2.0 * c / max(n, 1),
        },
    ]
    return [g for g in groups if g["params"]]


def make_optimizer(net: nn.Module, cfg: TrainerSettings, n: int = 1) -> torch.optim.Optimizer:
    params = param_groups(net, cfg, n)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    unknown("trainer.optimizer", cfg.optimizer, OPTIMIZERS)


def check_trainer(cfg: DictConfig | TrainerSettings) -> TrainerSettings:
    """The trainer settings, typed; refuses settings that cannot train, before any work."""
    if isinstance(cfg, TrainerSettings):
        return cfg
    names = [f.name for f in fields(TrainerSettings)]
    required = [f.name for f in fields(TrainerSettings) if f.default is MISSING]
    missing = [name for name in required if name not in cfg or OmegaConf.is_missing(cfg, name)]
    if missing:
        raise UserError(
            f"the trainer config has no value for {', '.join(missing)}; set "
            f"trainer.{missing[0]} (configs/trainer/default.yaml has every key)"
        )
    values: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    t = TrainerSettings(**{name: values[name] for name in names if name in values})
    for key in ("epochs", "batch_size", "eval_batch_size", "val_every"):
        if getattr(t, key) <= 0:
            raise UserError(f"trainer.{key}={getattr(t, key)} must be a positive integer")
    if t.min_steps < 0:
        raise UserError(f"trainer.min_steps={t.min_steps} must be 0 or more")
    if not (t.lr > 0 and math.isfinite(t.lr)):
        raise UserError(f"trainer.lr={t.lr} must be a positive number")
    for key in ("weight_decay", "momentum", "l2_per_label"):
        value = getattr(t, key)
        if not (value >= 0 and math.isfinite(value)):
            raise UserError(f"trainer.{key}={value} must be 0 or more")
    check_choice("trainer.optimizer", t.optimizer, OPTIMIZERS)
    check_choice("trainer.l2_scope", t.l2_scope, L2_SCOPES)
    check_choice("trainer.last_batch", t.last_batch, LAST_BATCH)
    check_choice("trainer.sampling", t.sampling, SAMPLING)
    return t


def index_batches(
    n: int, batch: int, count: int, sampling: str, gen: torch.Generator
) -> list[torch.Tensor]:
    """One epoch's ``count`` batches of row indices: slices of a permutation
    (``trainer.sampling=epochs``; the last one smaller unless ``last_batch=drop`` left it out)
    or ``batch`` rows drawn with replacement for each step (``replacement``, as a loop of
    ``torch.randint`` draws: every step sees ``batch`` rows, some twice, none set aside)."""
    if sampling == "replacement":
        return [torch.randint(n, (batch,), generator=gen, device=gen.device) for _ in range(count)]
    perm = torch.randperm(n, generator=gen, device=gen.device)
    return [perm[i * batch : (i + 1) * batch] for i in range(count)]


class KeepBest:
    """``trainer.select_on_val``: the network's state at its best validation accuracy, checked
    every ``val_every`` epochs and after the last (the earliest of equal accuracies). The check
    runs the network in eval mode without a random draw (no dropout; a BNN's mean weights), so
    training follows the same path as without it; only the state kept at the end differs."""

    def __init__(self, validation: tuple[torch.Tensor, torch.Tensor], cfg: TrainerSettings):
        self.x, self.y = validation
        self.every, self.batch = cfg.val_every, cfg.eval_batch_size
        self.best = -1.0
        self.state: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def check(self, net: nn.Module, epoch: int, last: bool) -> None:
        """After epoch ``epoch`` (from 1): keep the state if validation accuracy improved."""
        if epoch % self.every and not last:
            return
        net.eval()
        device = next(net.parameters()).device
        right = sum(
            int((net(self.x[i : i + self.batch].to(device)).argmax(1).cpu() == yb).sum())
            for i, yb in zip(
                range(0, len(self.x), self.batch), self.y.split(self.batch), strict=True
            )
        )
        net.train()
        if right / len(self.y) > self.best:
            self.best = right / len(self.y)
            self.state = {k: v.detach().clone() for k, v in net.state_dict().items()}

    def restore(self, net: nn.Module) -> None:
        net.load_state_dict(self.state)


def train_network(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainerSettings,
    seed: int,
    extra_loss: ExtraLoss | None = None,
    augment: Augment | None = None,
    validation: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Training:
    """Train ``net`` in place on (x, y), already on the net's device; returns its steps and
    final-epoch cross-entropy (of the whole run, whichever epoch is kept). With
    ``trainer.select_on_val`` and a ``validation`` set (inputs, labels), the network ends at
    the epoch of its best validation accuracy (``KeepBest``).

    Runs ``max(epochs * ceil(n / batch_size), min_steps)`` steps (``floor`` with
    ``trainer.last_batch=drop``), rounded up to whole epochs unless ``trainer.sampling`` is
    ``replacement``, so that tiny labeled sets still get enough updates. Data order,
    augmentation and dropout masks all follow ``seed``.
    With ``trainer.amp`` on CUDA the forward pass runs under bfloat16 autocast (no loss
    scaling is needed for bfloat16); elsewhere ``amp`` changes nothing.
    """
    device = next(net.parameters()).device
    n = len(x)
    batch = min(cfg.batch_size, n)
    drop = cfg.last_batch == "drop" and cfg.sampling == "epochs"
    per_epoch = n // batch if drop else math.ceil(n / batch)
    total = max(cfg.epochs * per_epoch, cfg.min_steps)
    if cfg.sampling == "epochs":
        total = math.ceil(total / per_epoch) * per_epoch  # whole epochs
    opt = make_optimizer(net, cfg, n)
    order_gen = torch_generator(seed, "order", device=device)
    augment_gen = torch_generator(seed, "augment", device=device)
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.amp and device.type == "cuda")
    keep = KeepBest(validation, cfg) if cfg.select_on_val and validation is not None else None
    net.train()
    loss = torch.zeros(())
    with seeded(seed, device):
        epochs = math.ceil(total / per_epoch)
        for epoch in steps(epochs, "training", "epoch"):
            todo = min(per_epoch, total - epoch * per_epoch)
            epoch_ce, seen = torch.zeros((), device=device), 0
            for idx in index_batches(n, batch, todo, cfg.sampling, order_gen):
                xb = x[idx] if augment is None else augment(x[idx], augment_gen)
                with amp:
                    ce = F.cross_entropy(net(xb), y[idx])
                    loss = ce if extra_loss is None else ce + extra_loss(net, n)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                epoch_ce, seen = epoch_ce + ce.detach().float() * len(idx), seen + len(idx)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"the training loss became {loss.item()} with {n} labels; "
                    f"lower trainer.lr (now {cfg.lr})"
                )
            if keep is not None:
                keep.check(net, epoch + 1, last=epoch + 1 == epochs)
    if keep is not None:
        keep.restore(net)
    net.eval()
    done = Training(steps=total, loss=float(epoch_ce) / seen)
    log.debug(f"trained on {n} labels: {done.steps} steps, final-epoch loss {done.loss:.4f}")
    return done
