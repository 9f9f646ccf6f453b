"""Typed schemas: one per option of each config group, so a key the option does not read is
refused at composition, ``--cfg job`` shows only what is used, and the run folder's hash covers
only what the chosen options read.

Each option's YAML names its schema first in its defaults list (``- mlp_schema``); the schema
is stored in the option's group (``model/mlp_schema``) and extends the group's base, which holds
``name`` and ``_target_``. The root schema types the groups that have one option (budget,
trainer, paths) and leaves the others open (``Any``), so a user's own YAML under
``--config-dir`` may carry keys of its own; struct mode still refuses a key it does not have.
The schemas are types only: values live in the YAML files. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from al_cli.identity import MOVED  # noqa: F401  (re-exported: the refusal of an old key)
from al_cli.names import NAME_MAX, check_name, option_name  # noqa: F401  (re-exported)

# OmegaConf reads Optional[...], not X | None, in dataclass fields: hence the noqa below.


@dataclass
class Option:
    """What every option of every group has: the name its folders and plots use, and the
    class or function (``_target_``) that its other keys are passed to as keyword arguments."""

    name: str = MISSING
    _target_: str = MISSING


NOT_IDENTITY = {"identity": False}
"""Field metadata of a key that never changes results (where data lie, how many workers
read them): left out of the run's identity, so moving the data keeps the run folder."""


def added(value: Any) -> dict[str, Any]:
    """Field metadata of a key added to an existing option: while it holds ``value``, the
    setting that reproduces the option as it was before the key existed, it stays out of the
    run's identity, so adding it moves no existing run folder."""
    return {"identity_unless": value}


# -- dataset ----------------------------------------------------------------------------------


@dataclass
class DatasetOption(Option):
    """What every data set has: a validation split that al holds out of its pool."""

    # labeled inputs held out of the pool, stratified by class, drawn once per split_seed (0
    # where a data set has none); never queried; scored each round as val_accuracy and val_nll
    val_size: int = field(default=0, metadata=added(0))


@dataclass
class SplitDataset(DatasetOption):
    """A data set without an official test set: a stratified split fixed by ``split_seed``."""

    split_seed: int = MISSING
    test_fraction: float = MISSING


@dataclass
class DigitsDataset(SplitDataset):
    # image: every pixel by one mean and standard deviation; feature: each pixel by its own.
    # The default is digits.yaml's (image); "feature" is no default but how runs filed before
    # the key scaled, which keeps their folders
    scaling: str = field(default=MISSING, metadata=added("feature"))


@dataclass
class SyntheticDataset(SplitDataset):
    n_samples: int = MISSING
    n_features: int = MISSING
    n_informative: int = MISSING
    n_classes: int = MISSING
    class_sep: float = MISSING


@dataclass
class ImageTransforms(DatasetOption):
    """Normalisation (empty: from the pool) and training-time crop (+ flip) augmentation."""

    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    augment: bool = False
    flip: bool = False


@dataclass
class TorchvisionDataset(ImageTransforms):
    root: str = field(default=MISSING, metadata=NOT_IDENTITY)
    download: bool = field(default=MISSING, metadata=NOT_IDENTITY)


@dataclass
class NpzDataset(SplitDataset, ImageTransforms):
    path: Optional[str] = None  # noqa: UP045


@dataclass
class ImageFolderDataset(NpzDataset):
    image_size: int = MISSING
    num_workers: int = field(default=MISSING, metadata=NOT_IDENTITY)


# -- model ------------------------------------------------------------------------------------


@dataclass
class MLPModel(Option):
    hidden: list[int] = MISSING
    dropout: float = MISSING


@dataclass
class CNNModel(MLPModel):
    filters: int = MISSING
    kernel_size: int = MISSING
    conv_dropout: float = MISSING
    init: str = field(default=MISSING, metadata=added("torch"))


@dataclass
class LeNetModel(MLPModel):
    channels: list[int] = MISSING


@dataclass
class ResNetModel(Option):
    stem: str = MISSING
    pretrained: bool = MISSING
    dropout: float = MISSING


# -- posterior: how trained networks become S predictive distributions ------------------------


@dataclass
class DeterministicPosterior(Option):
    """One network, one softmax: no keys of its own."""


@dataclass
class MCDropoutPosterior(Option):
    samples: int = MISSING
    consistent_masks: bool = MISSING
    # evaluation: true scores the mean over the samples; false the network with dropout off
    test_dropout: bool = field(default=MISSING, metadata=added(True))


@dataclass
class EnsemblePosterior(Option):
    members: int = MISSING
    bootstrap: bool = MISSING


@dataclass
class BNNPosterior(Option):
    samples: int = MISSING
    prior_sigma: float = MISSING


@dataclass
class LaplacePosterior(Option):
    samples: int = MISSING
    hessian: str = MISSING
    prior_precision: Optional[float] = None  # noqa: UP045


# -- strategy ---------------------------------------------------------------------------------


@dataclass
class Candidates(Option):
    """What every strategy shares: it considers a random subset of this many unlabeled inputs
    per round (null: all of them), never fewer than the batch (Gal et al. 2017's speed-up)."""

    candidates: Optional[int] = None  # noqa: UP045


@dataclass
class Selected(Candidates):
    """A batch drawn from scores: top-k, or stochastically with a temperature."""

    selection: str = MISSING
    temperature: float = MISSING


@dataclass
class ScoringStrategy(Selected):
    acquisition: str = MISSING


@dataclass
class QBCStrategy(Selected):
    disagreement: str = MISSING


@dataclass
class BatchBALDStrategy(Candidates):
    batchbald_candidates: int = MISSING
    batchbald_joint_samples: int = MISSING


@dataclass
class EERStrategy(Candidates):
    loss: str = MISSING
    eval_points: int = MISSING
    l2: float = MISSING


@dataclass
class InSpace(Candidates):
    """A strategy that measures distances between inputs, and the space it measures them in."""

    # embedding: the classifier's penultimate features, recomputed every round; representation:
    # the run's representation (representation=pca, file), computed once without labels
    space: str = field(default=MISSING, metadata=added("embedding"))


@dataclass
class CoresetStrategy(InSpace):
    metric: str = MISSING


@dataclass
class ProbCoverStrategy(InSpace):
    delta: Optional[float] = None  # noqa: UP045
    alpha: float = MISSING


@dataclass
class EPIGStrategy(Candidates):
    targets: int = MISSING


# -- representation: what a strategy sees of each input, computed without labels -------------


@dataclass
class NoRepresentation(Option):
    """Nothing computed: the classifier's own embeddings are all a strategy measures."""

    _target_: Optional[str] = None  # noqa: UP045


NO_REPRESENTATION = {"name": "none", "_target_": None}
"""``representation=none`` as composed: while a run uses it, the group stays out of the run's
identity (``RootConfig.representation``), so it moved no folder filed before it existed."""


@dataclass
class PCARepresentation(Option):
    dim: int = MISSING


@dataclass
class FileRepresentation(Option):
    path: Optional[str] = None  # noqa: UP045


@dataclass
class ImageRepresentation(Option):
    """Null: the inputs' own shape; [C, H, W]: flat inputs viewed as images (digits: [1,8,8])."""

    image_shape: Optional[list[int]] = None  # noqa: UP045


@dataclass
class SimCLRRepresentation(ImageRepresentation):
    epochs: int = MISSING
    dim: int = MISSING
    temperature: float = MISSING
    batch_size: int = MISSING
    lr: float = MISSING
    seed: int = MISSING


@dataclass
class TorchvisionRepresentation(ImageRepresentation):
    arch: str = MISSING
    weights: str = MISSING
    batch_size: int = field(default=MISSING, metadata=NOT_IDENTITY)


# -- the groups with one option, and the root -------------------------------------------------


@dataclass
class BudgetConfig:
    initial: int = MISSING
    initial_balanced: bool = MISSING
    query_size: int = MISSING
    max_labels: int = MISSING
    # whether dataset.val_size's labels count against max_labels (and in the curve's n_labeled)
    count_validation: bool = field(default=False, metadata=added(False))


@dataclass
class TrainerConfig:
    """Each key is described in configs/trainer/default.yaml (the config reference's text)."""

    optimizer: str = MISSING
    lr: float = MISSING
    weight_decay: float = MISSING
    l2_per_label: float = field(default=MISSING, metadata=added(0.0))
    l2_scope: str = field(default=MISSING, metadata=added("hidden"))
    momentum: float = MISSING
    epochs: int = MISSING
    min_steps: int = MISSING
    batch_size: int = MISSING
    last_batch: str = field(default=MISSING, metadata=added("keep"))
    sampling: str = field(default=MISSING, metadata=added("epochs"))
    eval_batch_size: int = MISSING
    warm_start: bool = MISSING
    amp: bool = MISSING
    select_on_val: bool = field(default=False, metadata=added(False))
    val_every: int = field(default=1, metadata=added(1))


@dataclass
class PathsConfig:
    results_dir: str = "results"
    data_dir: str = "data"
    # computed representations, one file per data set and representation settings, shared by
    # every run (and sweep job) that uses one
    cache_dir: str = "data/cache"


# -- logger: experiment trackers, any number at once ----------------------------------------


@dataclass
class MLflowLogger(Option):
    """One MLflow run per al run. ``tracking_uri`` null: ``MLFLOW_TRACKING_URI`` when set, else
    the SQLite file ``mlflow.db`` at the top of ``paths.results_dir``."""

    tracking_uri: Optional[str] = None  # noqa: UP045
    experiment: str = MISSING


@dataclass
class TensorBoardLogger(Option):
    """Event files in the run folder."""


@dataclass
class RootConfig:
    seed: int = 0
    device: str = "auto"
    resume: bool = True
    deterministic: bool = False
    # CPU threads torch uses; null: OMP_NUM_THREADS, else the usable CPUs / the parallel jobs
    threads: Optional[int] = None  # noqa: UP045
    # trackers by name (logger=mlflow, logger=[mlflow,tensorboard]); empty: none
    logger: dict[str, Any] = field(default_factory=dict)
    paths: PathsConfig = field(default_factory=PathsConfig)
    dataset: Any = MISSING
    model: Any = MISSING
    posterior: Any = MISSING
    strategy: Any = MISSING
    representation: Any = field(default=MISSING, metadata=added(NO_REPRESENTATION))
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


SCHEMAS: dict[str, dict[str, type]] = {
    "dataset": {
        "split_schema": SplitDataset,
        "digits_schema": DigitsDataset,
        "synthetic_schema": SyntheticDataset,
        "torchvision_schema": TorchvisionDataset,
        "npz_schema": NpzDataset,
        "image_folder_schema": ImageFolderDataset,
    },
    "model": {
        "mlp_schema": MLPModel,
        "cnn_schema": CNNModel,
        "lenet_schema": LeNetModel,
        "resnet_schema": ResNetModel,
    },
    "posterior": {
        "deterministic_schema": DeterministicPosterior,
        "mc_dropout_schema": MCDropoutPosterior,
        "ensemble_schema": EnsemblePosterior,
        "bnn_schema": BNNPosterior,
        "laplace_schema": LaplacePosterior,
    },
    "strategy": {
        "candidates_schema": Candidates,
        "selected_schema": Selected,
        "scoring_schema": ScoringStrategy,
        "qbc_schema": QBCStrategy,
        "batchbald_schema": BatchBALDStrategy,
        "eer_schema": EERStrategy,
        "space_schema": InSpace,
        "coreset_schema": CoresetStrategy,
        "probcover_schema": ProbCoverStrategy,
        "epig_schema": EPIGStrategy,
    },
    "representation": {
        "none_schema": NoRepresentation,
        "pca_schema": PCARepresentation,
        "file_schema": FileRepresentation,
        "simclr_schema": SimCLRRepresentation,
        "torchvision_schema": TorchvisionRepresentation,
    },
    "logger": {
        "mlflow_schema": MLflowLogger,
        "tensorboard_schema": TensorBoardLogger,
    },
}
"""Per group, the schemas an option's YAML can name in its defaults list."""

GROUPS = ("dataset", "model", "posterior", "strategy")
"""The groups whose options are built from ``_target_`` with their keys as arguments."""


def register() -> None:
    """Store the root schema as ``al_schema`` and every option schema in its group."""
    cs = ConfigStore.instance()
    cs.store(name="al_schema", node=RootConfig)
    for group, schemas in SCHEMAS.items():
        for name, node in schemas.items():
            cs.store(name=f"{group}_{name}", node=node)


register()


def not_identity_keys(node: Any) -> set[str]:
    """Keys of an option whose schema marks them as never changing results, or as added later
    and still at the value that reproduces the option as it was before (see ``added``)."""
    schema = OmegaConf.get_type(node) if OmegaConf.is_config(node) else None
    if schema is None or not is_dataclass(schema):
        return set()
    out = set()
    for f in fields(schema):
        if f.metadata.get("identity", True) is False:
            out.add(f.name)
        elif "identity_unless" in f.metadata and not OmegaConf.is_missing(node, f.name):
            if node.get(f.name) == f.metadata["identity_unless"]:
                out.add(f.name)
    return out
