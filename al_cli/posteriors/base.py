"""What every posterior shares: how networks are built and trained, and the interface.

A posterior turns one trained network, or several, into S predictive distributions per input.
The loop and the strategies only call the methods of ``Posterior``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from al_cli.build import check_signature, target_class
from al_cli.config import option_name
from al_cli.errors import UserError
from al_cli.models import model_provides
from al_cli.seeding import seeded
from al_cli.trainer import (
    Augment,
    ExtraLoss,
    TrainerSettings,
    Training,
    check_trainer,
    train_network,
)


@dataclass
class NetworkFactory:
    """Builds fresh networks of the configured model and trains them with the configured trainer."""

    model: type[nn.Module]
    model_keys: dict[str, Any]
    """The model option's keys, passed to ``model(input_shape, num_classes, **model_keys)``."""
    model_name: str
    trainer: TrainerSettings | None
    """None for a factory that only builds (benchmarks of scoring)."""
    input_shape: tuple[int, ...]
    num_classes: int
    device: torch.device
    augment: Augment | None = None
    """The data set's training-time augmentation, applied by every ``train`` call."""
    validation: tuple[torch.Tensor, torch.Tensor] | None = None
    """The validation set (inputs, labels) that ``trainer.select_on_val`` keeps the best epoch
    by; set once the split is held out (``setup``), None without one."""
    trained: list[Training] = field(init=False, default_factory=list)
    """Every ``train`` call since the learner last read them (``Learner.fit``)."""
    provides: frozenset[str] = field(init=False, default=frozenset())
    """What the model's networks offer (``embed``, ``last_layer``, ``dropout``): set by the
    first ``build``."""

    def build(self, seed: int) -> nn.Module:
        with seeded(seed, "cpu"):
            net = self.model(self.input_shape, self.num_classes, **self.model_keys)
        if not isinstance(net, nn.Module):
            raise UserError(f"model={self.model_name} built a {type(net).__name__}, not a module")
        self.provides = model_provides(net)
        return net.to(self.device)

    def train(
        self,
        net: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        seed: int,
        extra_loss: ExtraLoss | None = None,
    ) -> Training:
        if self.trainer is None:
            raise ValueError("this network factory was made without trainer settings")
        done = train_network(
            net, x, y, self.trainer, seed, extra_loss, self.augment, self.validation
        )
        self.trained.append(done)
        return done

    @property
    def warm_start(self) -> bool:
        return self.trainer is not None and self.trainer.warm_start


def network_factory(
    model_cfg: DictConfig,
    trainer: DictConfig | TrainerSettings | None,
    input_shape: tuple[int, ...],
    num_classes: int,
    device: torch.device,
    augment: Augment | None = None,
) -> NetworkFactory:
    """The factory for the model option ``model_cfg``: its class must be an ``nn.Module``
    that takes ``(input_shape, num_classes, **keys)``; checked before anything is built, as
    are the trainer settings (None: a factory that only builds)."""
    model = target_class(model_cfg, "model", nn.Module, "a network")
    keys = check_signature(model, "model", model_cfg, input_shape, num_classes)
    name = option_name(model_cfg, "model")
    settings = None if trainer is None else check_trainer(trainer)
    return NetworkFactory(model, keys, name, settings, input_shape, num_classes, device, augment)


def network_provides(factory: NetworkFactory) -> frozenset[str]:
    """``embed`` and ``last_layer`` where the model has them: what a posterior that reads its
    first trained network can pass on."""
    return factory.provides & {"embed", "last_layer"}


def check_samples(samples: int, refusal: str) -> None:
    """Refuse fewer than 2 samples (with one, a sampled posterior is a deterministic network),
    saying ``posterior.samples=N: <refusal>``."""
    if samples < 2:
        raise UserError(f"posterior.samples={samples}: {refusal}")


class Posterior(ABC):
    """How a learner turns trained networks into S predictive distributions per input.

    Derive your own from this class, implement ``n_samples``, ``fit`` and ``sample_probs``, and
    name it in a posterior option's ``_target_``; it is built as ``Posterior(factory, **keys)``,
    where ``factory`` builds and trains networks of the chosen model (``factory.build(seed)``,
    ``factory.train(net, x, y, seed)``). Keep it as ``self.factory`` and the learning curve
    gets each round's ``train_loss`` and ``train_steps``.
    """

    provides: frozenset[str] = frozenset({"samples"})
    """What it can give strategies: ``samples`` (always), ``multiple_samples`` (S >= 2: it says
    so itself, checked against ``n_samples`` when built), ``consistent_samples`` (sample s is
    the same function for every input, as BatchBALD's joint entropies need), ``embed`` and
    ``last_layer`` (of its first network)."""
    factory: NetworkFactory | None = None
    """The factory its networks are built and trained with; None: it trains without one."""

    @property
    @abstractmethod
    def n_samples(self) -> int:
        """S, the number of predictive distributions per input."""

    @abstractmethod
    def fit(self, x: torch.Tensor, y: torch.Tensor, seed: int) -> None:
        """Train on the labeled set; ``seed`` already includes the round."""

    @abstractmethod
    def sample_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``[S, b, C]`` for one batch ``x`` on the device."""

    def predict_probs(self, x: torch.Tensor) -> torch.Tensor:
        """The prediction that evaluation scores, ``[b, C]``: the mean of the samples."""
        return self.sample_probs(x).mean(dim=0)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``[b, D]`` of the (first) trained network."""
        raise UserError(f"{type(self).__name__} gives no embeddings")

    def last_layer(self) -> nn.Linear:
        """The (first) trained network's final linear layer."""
        raise UserError(f"{type(self).__name__} gives no last layer")

    def state_dict(self) -> dict | None:
        """Its trained networks, for the checkpoint a warm-started run resumes from; None (the
        default): it cannot save them, and such a run cannot resume."""
        return None

    def load_state_dict(self, state: dict) -> None:
        """Take back what ``state_dict`` gave (only ever called with a state it gave)."""
        raise UserError(f"{type(self).__name__} cannot load saved networks")


class OneNetwork(Posterior):
    """A posterior read from one trained network, ``self.net``: its embeddings and last layer
    are what strategies get, where the model has them."""

    def __init__(self, factory: NetworkFactory):
        self.factory = factory
        self.net: nn.Module | None = None

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if "embed" not in self.provides:
            return super().embed(x)
        return self.net.embed(x)

    def last_layer(self) -> nn.Linear:
        if "last_layer" not in self.provides:
            return super().last_layer()
        return self.net.classifier


class SampledPosterior(OneNetwork):
    """S >= 2 samples around one trained network (MC Dropout, BNN, Laplace)."""

    def __init__(self, factory: NetworkFactory, samples: int, refusal: str):
        """``refusal``: what the refusal of fewer than 2 samples says (``check_samples``)."""
        check_samples(samples, refusal)
        super().__init__(factory)
        self.samples = int(samples)

    @property
    def n_samples(self) -> int:
        return self.samples
