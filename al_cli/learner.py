"""The learner: a posterior over networks, queried in streamed batches over any set of inputs."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from al_cli.posteriors import Posterior
from al_cli.progress import progress


class Learner:
    """Fits the posterior on labeled data and answers questions about inputs, batch by batch.

    Inputs may live on the CPU or the device; each batch is moved to the device, and results
    come back on the device. No method holds more than one batch of samples at once unless
    its caller asks for the whole ``[S, N, C]`` tensor (``sample_probs``).
    """

    def __init__(self, posterior: Posterior, device: torch.device, eval_batch_size: int):
        self.posterior = posterior
        self.device = device
        self.eval_batch_size = eval_batch_size

    @property
    def provides(self) -> frozenset[str]:
        return self.posterior.provides

    @property
    def n_samples(self) -> int:
        return self.posterior.n_samples

    def fit(self, x: torch.Tensor, y: torch.Tensor, seed: int) -> dict[str, float | str]:
        """Fit the posterior; returns the learning curve's ``train_loss`` and ``train_steps``:
        the mean over the networks trained this round (empty for a posterior that trains
        without a ``NetworkFactory``)."""
        factory = self.posterior.factory
        trained = None if factory is None else factory.trained
        if trained is not None:
            trained.clear()
        self.posterior.fit(x.to(self.device), y.to(self.device), seed)
        if not trained:
            return {"train_loss": "", "train_steps": ""}
        return {
            "train_loss": round(sum(t.loss for t in trained) / len(trained), 6),
            "train_steps": round(sum(t.steps for t in trained) / len(trained)),
        }

    def map_batches(
        self, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor], dim: int = 0
    ) -> torch.Tensor:
        """``fn`` applied to each batch of ``x`` (on the device), concatenated along ``dim``."""
        starts = range(0, len(x), self.eval_batch_size)
        outs = [
            fn(x[i : i + self.eval_batch_size].to(self.device, non_blocking=True))
            for i in progress(starts, "inference", "batch")
        ]
        return torch.cat(outs, dim=dim)

    def map_samples(
        self, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """``fn([S, b, C] probabilities) -> [b, ...]`` over ``x``, streamed."""
        return self.map_batches(x, lambda xb: fn(self.posterior.sample_probs(xb)))

    def sample_probs(self, x: torch.Tensor) -> torch.Tensor:
        """All samples ``[S, N, C]``: only for strategies that need them jointly."""
        return self.map_batches(x, self.posterior.sample_probs, dim=1)

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior's prediction ``[N, C]``, which evaluation scores (by default the
        mean of its samples)."""
        return self.map_batches(x, self.posterior.predict_probs)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.map_batches(x, self.posterior.embed)

    def last_layer(self) -> nn.Linear:
        return self.posterior.last_layer()
