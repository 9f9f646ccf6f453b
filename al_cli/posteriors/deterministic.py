"""One trained network read as one predictive distribution (S = 1): the plain softmax."""

from __future__ import annotations

import torch

from al_cli.posteriors.base import NetworkFactory, OneNetwork, network_provides


class Deterministic(OneNetwork):
    def __init__(self, factory: NetworkFactory):
        super().__init__(factory)
        self.provides = frozenset({"samples", "consistent_samples"}) | network_provides(factory)

    @property
    def n_samples(self) -> int:
        return 1

    def fit(self, x: torch.Tensor, y: torch.Tensor, seed: int) -> None:
        if self.net is None or not self.factory.warm_start:
            self.net = self.factory.build(seed)
        self.factory.train(self.net, x, y, seed)

    def state_dict(self) -> dict | None:
        """The trained network, for a checkpoint that a warm-started run resumes from."""
        return {} if self.net is None else {"net": self.net.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if "net" in state:
            self.net = self.factory.build(0)
            self.net.load_state_dict(state["net"])
            self.net.eval()

    @torch.no_grad()
    def sample_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=-1).unsqueeze(0)
