"""Typed schemas for the Hydra config groups, so a wrong type or unknown key fails at composition.

One root schema, ``al_schema``, types every group; ``config.yaml`` starts from it. Each group
has one schema for all its options (a key that only some options use has a default that the
others ignore), so a user's own YAML in a group is checked the same way as ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


class ConfigError(Exception):
    """A mistake the user can fix in their config or command line; shown as one line, exit 2."""


@dataclass
class DatasetConfig:
    name: str = MISSING
    _target_: str = MISSING
    split_seed: int = 0
    test_fraction: float = 0.25
    # synthetic only
    n_samples: int = 600
    n_features: int = 10
    n_informative: int = 6
    n_classes: int = 3
    class_sep: float = 1.0
    # torchvision sets: the root handed to torchvision, and whether to fetch missing files
    root: str = "data"
    download: bool = True
    # per-channel normalisation; empty: computed from the pool (npz, image_folder)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    # training-time augmentation: random crop (padding 4) and, where flip, horizontal flips
    augment: bool = False
    flip: bool = True
    # the user's own data: an .npz file or an ImageFolder tree
    path: Optional[str] = None  # noqa: UP045
    image_size: int = 32
    num_workers: int = 0


@dataclass
class ModelConfig:
    name: str = MISSING
    _target_: str = MISSING
    hidden: list[int] = field(default_factory=lambda: [128])
    dropout: float = 0.25
    # cnn
    filters: int = 32
    kernel_size: int = 4
    conv_dropout: float = 0.25
    # lenet
    channels: list[int] = field(default_factory=lambda: [6, 16])
    # resnet18
    stem: str = "cifar"
    pretrained: bool = False


@dataclass
class StrategyConfig:
    name: str = MISSING
    _target_: str = MISSING
    # how the learner turns trained networks into S predictive distributions
    posterior: str = "deterministic"
    # what the scoring step computes from those distributions
    acquisition: str = "random"
    # how a batch is drawn from the scores
    selection: str = "topk"
    temperature: float = 1.0
    # score a random subset of this many unlabeled inputs per round (null: all)
    candidates: Optional[int] = None  # noqa: UP045 (OmegaConf reads Optional, not X | None)
    # stochastic forward passes (MC Dropout) or weight samples (BNN, Laplace)
    samples: int = 20
    consistent_masks: bool = True
    # deep ensemble / committee
    members: int = 5
    bootstrap: bool = False
    # bnn: scale of the Gaussian prior over every weight
    bnn_prior_sigma: float = 1.0
    # laplace: last-layer Hessian (auto: full for small heads, else kron) and prior precision
    # (null: fitted by maximising the marginal likelihood each round)
    laplace_hessian: str = "auto"
    laplace_prior_precision: Optional[float] = None  # noqa: UP045
    # batchbald: greedy selection among the top candidates by BALD; joint configurations
    # are enumerated exactly while classes^batch fits in joint_samples, then sampled
    batchbald_candidates: int = 100
    batchbald_joint_samples: int = 2000
    # query by committee: vote_entropy or kl_consensus over the members' predictions
    disagreement: str = "vote_entropy"
    # expected error reduction: future loss (log or zero_one) on this many unlabeled inputs,
    # after a last-layer refit whose ridge penalty is l2
    loss: str = "log"
    eval_points: int = 1000
    l2: float = 1.0
    # core-set: distance between embeddings (euclidean or cosine)
    metric: str = "euclidean"


@dataclass
class BudgetConfig:
    initial: int = 20
    initial_balanced: bool = False
    query_size: int = 20
    max_labels: int = 300


@dataclass
class TrainerConfig:
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    epochs: int = 50
    min_steps: int = 100
    batch_size: int = 64
    eval_batch_size: int = 1024
    warm_start: bool = False
    # bfloat16 autocast while training on CUDA (ignored on other devices)
    amp: bool = False


@dataclass
class PathsConfig:
    results_dir: str = "results"
    data_dir: str = "data"


@dataclass
class RootConfig:
    seed: int = 0
    device: str = "auto"
    # continue an unfinished run found in the run folder, skip a finished one (false: start over)
    resume: bool = True
    # torch's deterministic algorithms (and cuBLAS workspace): reproducible on GPU, slower
    deterministic: bool = False
    paths: PathsConfig = field(default_factory=PathsConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def register() -> None:
    """Store the root schema as ``al_schema`` (idempotent)."""
    ConfigStore.instance().store(name="al_schema", node=RootConfig)


register()
