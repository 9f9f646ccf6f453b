"""The one shape every data source returns, and the dispatch from a config to its loader."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import torch
from omegaconf import DictConfig

from al_cli.build import call, import_target
from al_cli.config import option_name
from al_cli.errors import UserError

Loader = TypeVar("Loader", bound=Callable[..., "DataSplit"])


@dataclass(frozen=True)
class DataSplit:
    """Pool inputs with their (hidden) labels, and a held-out test set.

    Only the Oracle keeps ``pool_y`` once the loop starts; strategies never see it.
    ``augment(x, generator) -> x``, when set, transforms each training batch (never the
    inputs that are scored or evaluated).
    """

    name: str
    pool_x: torch.Tensor
    pool_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    num_classes: int
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    fingerprint: str = ""
    """A hash of the data's content as read (files or raw arrays, see ``fingerprint``): a
    resumed or skipped run compares it with its checkpoint's. Empty: ``load_dataset`` hashes
    the arrays above."""
    classes: tuple[Any, ...] = ()
    """What each class index stands for in the user's data (the original label, or the image
    folder's name), recorded in run.json; empty for the built-in sets."""
    val_x: torch.Tensor | None = None
    """The validation inputs held out of the pool (``dataset.val_size``, ``data.validation``);
    None without a validation set. A loader leaves these unset."""
    val_y: torch.Tensor | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.pool_x.shape[1:])


def fingerprint(*parts: np.ndarray | torch.Tensor | bytes | str) -> str:
    """16 hex digits of the SHA-256 of ``parts``: arrays by dtype, shape and bytes (about 1 GB/s:
    50 ms for MNIST's 60,000 uint8 images), bytes and text as they are."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, str):
            part = part.encode()
        if isinstance(part, bytes):
            digest.update(len(part).to_bytes(8, "little") + part)
            continue
        array = part.detach().cpu().numpy() if isinstance(part, torch.Tensor) else part
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.reshape(-1).view(np.uint8))
    return digest.hexdigest()[:16]


def loader(fn: Loader) -> Loader:
    """Mark ``fn`` as a data loader that a dataset option's ``_target_`` may name: it is called
    with the option's keys (all but ``name`` and ``_target_``) and returns a DataSplit."""
    fn.__al_loader__ = True
    return fn


def load_dataset(cfg: DictConfig) -> DataSplit:
    """Call the loader named by ``dataset._target_`` with the option's keys, then check it."""
    fn = import_target(cfg, "dataset")
    if not getattr(fn, "__al_loader__", False):
        raise UserError(
            f"dataset._target_={cfg._target_!r} is not a data loader; name a function marked "
            f"with @al_cli.data.loader"
        )
    name = option_name(cfg, "dataset")
    # val_size is al's, not the loader's: the split is held out of the pool at set-up
    split = call(fn, "dataset", cfg, omit=("val_size",))
    if not isinstance(split, DataSplit):
        raise UserError(
            f"dataset={name}: {cfg._target_} returned a {type(split).__name__}, not a DataSplit"
        )
    split = replace(split, name=name)
    check_split(split)
    if not split.fingerprint:
        split = replace(
            split, fingerprint=fingerprint(split.pool_x, split.pool_y, split.test_x, split.test_y)
        )
    absent = sorted(set(split.test_y.tolist()) - set(split.pool_y.tolist()))
    if absent:
        named = [split.classes[c] if split.classes else c for c in absent]
        logging.getLogger("al").warning(
            f"al run: warning: dataset {name}: test class(es) {', '.join(map(str, named))} never "
            f"occur in the pool, so no strategy can learn them; their test inputs count as errors"
        )
    if cfg.get("augment") and split.augment is None:
        raise UserError(
            f"dataset.augment=true but dataset={name} has no image augmentation "
            f"(it applies to images); set dataset.augment=false"
        )
    return split


def place_inputs(split: DataSplit, device: torch.device) -> DataSplit:
    """On CUDA, hold the inputs on the GPU when they take at most half its free memory (no
    copy per batch at all), else in pinned memory (asynchronous copies). Labels stay on the CPU.
    """
    if device.type != "cuda":
        return split
    size = sum(t.element_size() * t.nelement() for t in (split.pool_x, split.test_x))
    free, _ = torch.cuda.mem_get_info(device)
    if size <= free // 2:
        return replace(split, pool_x=split.pool_x.to(device), test_x=split.test_x.to(device))
    return replace(split, pool_x=split.pool_x.pin_memory(), test_x=split.test_x.pin_memory())


def check_split(split: DataSplit) -> None:
    """Refuse data a learner cannot use, naming the problem."""
    for part, x, y in [("pool", split.pool_x, split.pool_y), ("test", split.test_x, split.test_y)]:
        if len(x) != len(y):
            raise UserError(f"dataset {split.name}: {part} has {len(x)} inputs but {len(y)} labels")
        if len(x) == 0:
            raise UserError(f"dataset {split.name}: the {part} set is empty")
        if y.dtype != torch.long:
            raise UserError(f"dataset {split.name}: {part} labels must be integer classes")
        if int(y.min()) < 0 or int(y.max()) >= split.num_classes:
            raise UserError(
                f"dataset {split.name}: {part} labels must lie in 0..{split.num_classes - 1}"
            )
    if split.num_classes < 2:
        raise UserError(f"dataset {split.name}: needs at least two classes")
