"""Test-set metrics of a mean predictive distribution."""

from __future__ import annotations

import torch


def accuracy(probs: torch.Tensor, y: torch.Tensor) -> float:
    return float((probs.argmax(dim=1) == y).double().mean())


def nll(probs: torch.Tensor, y: torch.Tensor) -> float:
    """Mean negative log-likelihood of the true class (probabilities clamped at 1e-12)."""
    return float(-probs.gather(1, y[:, None]).clamp_min(1e-12).log().mean())


def ece(probs: torch.Tensor, y: torch.Tensor, bins: int = 15) -> float:
    """Expected calibration error over equal-width confidence bins (Guo et al. 2017)."""
    conf, pred = probs.max(dim=1)
    correct = (pred == y).to(probs.dtype)
    # bin b holds confidences in (b/bins, (b+1)/bins]
    which = (conf * bins).ceil().long().clamp(1, bins) - 1
    gap = torch.zeros(bins, dtype=probs.dtype, device=probs.device)
    gap.index_add_(0, which, conf - correct)
    return float(gap.abs().sum() / len(y))


def evaluate(probs: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    probs, y = probs.double(), y.to(probs.device)
    return {
        "test_accuracy": accuracy(probs, y),
        "test_nll": nll(probs, y),
        "test_ece": ece(probs, y),
    }


def validation_metrics(probs: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """The curve's ``val_accuracy`` and ``val_nll``: the validation set (``dataset.val_size``)
    scored as the test set is."""
    probs, y = probs.double(), y.to(probs.device)
    return {"val_accuracy": accuracy(probs, y), "val_nll": nll(probs, y)}
