"""Acquisition scores: pure functions from class probabilities ``[S, N, C]`` to ``[N]``.

Higher means more worth labeling. S is the number of posterior samples (1 for a plain
softmax). All are exported for tests and for users' own strategies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

EPS = 1e-12


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * p.clamp_min(EPS).log()).sum(dim=-1)


def least_confidence(probs: torch.Tensor) -> torch.Tensor:
    """1 - max_c p(c|x) of the mean prediction."""
    return 1.0 - probs.mean(dim=0).max(dim=-1).values


def margin(probs: torch.Tensor) -> torch.Tensor:
    """Negative gap between the two most likely classes of the mean prediction."""
    top2 = probs.mean(dim=0).topk(2, dim=-1).values
    return -(top2[:, 0] - top2[:, 1])


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the mean prediction; with S > 1 this is the predictive entropy."""
    return _entropy(probs.mean(dim=0))


def bald(probs: torch.Tensor) -> torch.Tensor:
    """Mutual information between label and weights: H[mean p] - mean H[p] (Houlsby 2011)."""
    return _entropy(probs.mean(dim=0)) - _entropy(probs).mean(dim=0)


def variation_ratios(probs: torch.Tensor) -> torch.Tensor:
    """1 - the fraction of samples whose argmax is the modal class (Freeman 1965)."""
    votes = probs.argmax(dim=-1)  # [S, N]
    counts = torch.nn.functional.one_hot(votes, probs.shape[-1]).sum(dim=0)  # [N, C]
    return 1.0 - counts.max(dim=-1).values.to(probs.dtype) / probs.shape[0]


def mean_std(probs: torch.Tensor) -> torch.Tensor:
    """Mean over classes of the per-class standard deviation across samples (Kampffmeyer 2016)."""
    return probs.std(dim=0, unbiased=False).mean(dim=-1)


# Committee disagreement (query by committee): each of the S samples is one member's vote.


def vote_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy of the members' hard votes, -sum_c V(c)/S log V(c)/S (Dagan & Engelson 1995)."""
    votes = probs.argmax(dim=-1)  # [S, N]
    counts = torch.nn.functional.one_hot(votes, probs.shape[-1]).sum(dim=0)  # [N, C]
    return _entropy(counts.to(probs.dtype) / probs.shape[0])


def kl_consensus(probs: torch.Tensor) -> torch.Tensor:
    """Mean KL divergence of each member from the committee's mean (McCallum & Nigam 1998)."""
    mean = probs.mean(dim=0, keepdim=True)
    kl = (probs * (probs.clamp_min(EPS).log() - mean.clamp_min(EPS).log())).sum(dim=-1)
    return kl.mean(dim=0)


@dataclass(frozen=True)
class Acquisition:
    """What al knows of one acquisition: its score and what the score asks of the learner.

    Called like its score (``ACQUISITIONS[name](probs)``), so the registry reads as functions.
    """

    score: Callable[[torch.Tensor], torch.Tensor]
    several_samples: bool = False
    """Zero everywhere when S = 1 (it measures disagreement): needs ``multiple_samples``."""
    negative: bool = False
    """Negative by design (margin): ``selection=power`` cannot weight its scores."""
    disagreement: bool = False
    """A committee's disagreement, offered as ``strategy=qbc``'s ``disagreement``."""

    def __call__(self, probs: torch.Tensor) -> torch.Tensor:
        return self.score(probs)

    @property
    def needs(self) -> frozenset[str]:
        """What a strategy scoring it needs from the learner (``Strategy.needs``)."""
        return frozenset({"samples", "multiple_samples"} if self.several_samples else {"samples"})


ACQUISITIONS: dict[str, Acquisition] = {
    "least_confidence": Acquisition(least_confidence),
    "margin": Acquisition(margin, negative=True),
    "entropy": Acquisition(entropy),
    "max_entropy": Acquisition(entropy),
    "bald": Acquisition(bald, several_samples=True),
    "variation_ratios": Acquisition(variation_ratios, several_samples=True),
    "mean_std": Acquisition(mean_std, several_samples=True),
    "vote_entropy": Acquisition(vote_entropy, several_samples=True, disagreement=True),
    "kl_consensus": Acquisition(kl_consensus, several_samples=True, disagreement=True),
}
"""The one registry of acquisitions: every fact a strategy or a check needs about one."""

DISAGREEMENTS = tuple(name for name, a in ACQUISITIONS.items() if a.disagreement)
