"""Deep Ensembles (Lakshminarayanan et al. 2017): M networks, each with its own seeded
initialisation and data order, stacked as S = M samples. With ``bootstrap`` each member
trains on a resample of the labeled set with replacement, as a query-by-committee needs."""

from __future__ import annotations

import torch
from torch import nn

from al_cli.errors import UserError
from al_cli.posteriors.base import NetworkFactory, Posterior, network_provides
from al_cli.seeding import derive_seed, torch_generator


class DeepEnsemble(Posterior):
    def __init__(self, factory: NetworkFactory, members: int = 5, bootstrap: bool = False):
        if members < 2:
            raise UserError(f"posterior.members={members}: an ensemble needs at least 2 members")
        self.factory = factory
        self.members = int(members)
        self.bootstrap = bool(bootstrap)
        self.nets: list[nn.Module] = []
        self.provides = frozenset(
            {"samples", "multiple_samples", "consistent_samples"}
        ) | network_provides(factory)

    @property
    def n_samples(self) -> int:
        return self.members

    def fit(self, x: torch.Tensor, y: torch.Tensor, seed: int) -> None:
        if not self.nets or not self.factory.warm_start:
            self.nets = [
                self.factory.build(derive_seed(seed, "member", m)) for m in range(self.members)
            ]
        for m, net in enumerate(self.nets):
            member_seed = derive_seed(seed, "member", m)
            xm, ym = x, y
            if self.bootstrap:
                gen = torch_generator(member_seed, "bootstrap", device=x.device)
                idx = torch.randint(len(x), (len(x),), generator=gen, device=x.device)
                xm, ym = x[idx], y[idx]
            self.factory.train(net, xm, ym, member_seed)

    def state_dict(self) -> dict | None:
        """The trained members, for a checkpoint that a warm-started run resumes from."""
        return {"nets": [net.state_dict() for net in self.nets]}

    def load_state_dict(self, state: dict) -> None:
        self.nets = []
        for member in state["nets"]:
            net = self.factory.build(0)
            net.load_state_dict(member)
            net.eval()
            self.nets.append(net)

    @torch.no_grad()
    def sample_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.softmax(net(x), dim=-1) for net in self.nets])

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets[0].embed(x)

    def last_layer(self) -> nn.Linear:
        return self.nets[0].classifier
