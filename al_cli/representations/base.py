"""What a representation is: features of every pool and test input, computed without labels,
row for row with the data set's ``pool_x`` and ``test_x``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from al_cli.data import DataSplit
from al_cli.errors import UserError


@dataclass(frozen=True)
class Features:
    """A representation of the data: ``pool`` ``[N_pool, D]`` and ``test`` ``[N_test, D]``,
    float32, aligned with ``DataSplit.pool_x`` and ``DataSplit.test_x``."""

    pool: torch.Tensor
    test: torch.Tensor

    def to(self, device: torch.device) -> Features:
        return Features(self.pool.to(device), self.test.to(device))


class Representation(ABC):
    """A ``representation=`` option: derive from this class, implement ``compute`` and name the
    class in the option's ``_target_``; it is built as ``Representation(**keys)``. ``compute``
    never sees a label (it receives the split, but reads only its inputs), so one result
    serves every strategy, seed and budget of a sweep."""

    cached: bool = True
    """Whether ``compute``'s result is kept in ``paths.cache_dir`` for later runs: true for
    what takes time to compute (PCA, an encoder), false for features read from a file."""

    @abstractmethod
    def compute(self, split: DataSplit) -> Features:
        """The features of ``split``'s pool and test inputs (never its labels)."""

    def check(self, split: DataSplit) -> None:
        """Refuse settings that ``split`` cannot meet, cheaply, before the cache is touched
        (none here: a representation that has such settings overrides it)."""
        return None

    def source(self) -> str | None:
        """The file a representation reads, for run.json (None: it computes its features)."""
        return None


def check_features(features: Features, split: DataSplit, name: str) -> Features:
    """Refuse features that are not one float matrix per part, aligned with the data set."""
    widths = set()
    for part, x, n in (
        ("pool", features.pool, len(split.pool_x)),
        ("test", features.test, len(split.test_x)),
    ):
        if x.dim() != 2 or len(x) != n:
            raise UserError(
                f"representation={name} gave {part} features of shape {tuple(x.shape)}; "
                f"expected [{n}, D], one row per {part} input"
            )
        if not bool(torch.isfinite(x).all()):
            raise UserError(f"representation={name} gave non-finite {part} features")
        widths.add(x.shape[1])
    if len(widths) != 1:
        raise UserError(f"representation={name} gave pool and test features of unequal widths")
    return Features(features.pool.float().contiguous(), features.test.float().contiguous())
