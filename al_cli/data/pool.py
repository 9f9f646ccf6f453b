"""Which pool inputs are labeled, and the simulated oracle that alone knows the hidden labels."""

from __future__ import annotations

import numpy as np
import torch

from al_cli.errors import UserError


class Oracle:
    """Reveals hidden pool labels on request, each index once."""

    def __init__(self, labels: torch.Tensor):
        self._labels = labels.clone()
        self._revealed = torch.zeros(len(labels), dtype=torch.bool)

    def __len__(self) -> int:
        return len(self._labels)

    def reveal(self, indices: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Labels of ``indices``; refuses an index out of range, repeated, or already labeled."""
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long).reshape(-1)
        if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= len(self._labels)):
            raise IndexError(f"oracle: index out of range 0..{len(self._labels) - 1}")
        if len(torch.unique(idx)) != len(idx):
            raise ValueError("oracle: the same index was queried twice in one batch")
        if bool(self._revealed[idx].any()):
            raise ValueError("oracle: an index that is already labeled was queried again")
        self._revealed[idx] = True
        return self._labels[idx].clone()

    def draw_initial(self, n: int, balanced: bool, rng: np.random.Generator) -> np.ndarray:
        """The initial labeled set: ``n`` indices at random, or as equal per class as possible.

        A class-balanced start needs the labels, so the simulation's oracle draws it.
        """
        size = len(self._labels)
        if n == 0:  # a cold start (budget.initial=0): nothing to draw, nothing to balance
            return np.empty(0, dtype=np.int64)
        if not balanced:
            return rng.choice(size, size=n, replace=False)
        labels = self._labels.numpy()
        classes = np.unique(labels)
        if n < len(classes):
            raise UserError(
                f"budget.initial_balanced=true needs at least one label per class: "
                f"budget.initial={n} < {len(classes)} classes; raise budget.initial to "
                f"{len(classes)} or set budget.initial_balanced=false"
            )
        per_class = np.full(len(classes), n // len(classes))
        per_class[rng.permutation(len(classes))[: n % len(classes)]] += 1
        chosen = []
        for c, k in zip(classes, per_class, strict=True):
            members = np.flatnonzero(labels == c)
            if k > len(members):
                raise UserError(
                    f"budget.initial_balanced=true asks {k} labels of class {c}, which has "
                    f"only {len(members)} pool inputs; lower budget.initial"
                )
            chosen.append(rng.choice(members, size=k, replace=False))
        return rng.permutation(np.concatenate(chosen))


class Pool:
    """The labeled part of the pool: indices in order of acquisition, their labels and rounds."""

    def __init__(self, size: int):
        self.size = size
        self.labeled_idx: list[int] = []
        self.labels: list[int] = []
        self.rounds: list[int] = []
        self._mask = np.zeros(size, dtype=bool)

    def add(self, indices: np.ndarray, labels: torch.Tensor, round_: int) -> None:
        self.labeled_idx.extend(int(i) for i in indices)
        self.labels.extend(int(y) for y in labels)
        self.rounds.extend([round_] * len(indices))
        self._mask[np.asarray(indices, dtype=np.int64)] = True

    @property
    def n_labeled(self) -> int:
        return len(self.labeled_idx)

    def unlabeled_indices(self) -> np.ndarray:
        return np.flatnonzero(~self._mask)

    def labeled_indices(self) -> np.ndarray:
        return np.asarray(self.labeled_idx, dtype=np.int64)

    def revealed_labels(self) -> torch.Tensor:
        return torch.as_tensor(self.labels, dtype=torch.long)
