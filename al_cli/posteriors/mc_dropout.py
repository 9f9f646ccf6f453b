"""MC Dropout (Gal & Ghahramani 2016): dropout kept on at inference, T stochastic passes.

Only the ``nn.Dropout`` layers are stochastic; every other layer stays in eval mode, so
BatchNorm statistics never move. With ``consistent_masks`` (the default) the T masks of each
dropout layer are drawn once per round and shared by every input, so sample t is one fixed
sub-network, as BatchBALD's joint entropies need (Kirsch et al. 2019).

The fast path works on models built as ``features`` (an ``nn.Sequential``) then
``classifier``: the layers before the first dropout are deterministic and run once per
input; only the rest is replicated T times. Under consistent masks the Linear after a
dropout is evaluated for all T masks as one matrix product with the T masked weight matrices
stacked, so the shared input is never copied T times. Other models fall back to T full
passes with the same masks applied by hooks.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from al_cli.errors import UserError
from al_cli.posteriors.base import NetworkFactory, SampledPosterior, network_provides
from al_cli.seeding import derive_seed, torch_generator

FUNCTIONAL_DROPOUT = {
    F.dropout,
    F.dropout1d,
    F.dropout2d,
    F.dropout3d,
    F.alpha_dropout,
    F.feature_alpha_dropout,
    torch.dropout,
    torch.alpha_dropout,
    torch.feature_dropout,
    torch.feature_alpha_dropout,
}


def functional_dropout_calls(net: nn.Module) -> list[str]:
    """Names of dropout functions called in ``net``'s forward, found by tracing (if it traces)."""
    try:
        graph = torch.fx.symbolic_trace(net).graph
    except Exception:  # not every model traces; the eval-mode probe still guards those
        return []
    return [
        str(n.target.__name__)
        for n in graph.nodes
        if n.op == "call_function" and n.target in FUNCTIONAL_DROPOUT
    ]


def check_dropout_model(net: nn.Module, input_shape: tuple[int, ...], model_name: str) -> None:
    """Refuse a model whose dropout MC Dropout cannot control, with the reason."""
    for name, m in net.named_modules():
        if isinstance(m, nn.modules.dropout._DropoutNd) and type(m) is not nn.Dropout:
            raise UserError(
                f"posterior=mc_dropout handles torch.nn.Dropout layers only, but "
                f"model={model_name} has {type(m).__name__} at {name}; replace it with "
                f"nn.Dropout or choose another posterior"
            )
    calls = functional_dropout_calls(net)
    if calls:
        raise UserError(
            f"posterior=mc_dropout cannot control functional dropout ({calls[0]}) in "
            f"model={model_name}'s forward; use nn.Dropout modules or choose another posterior"
        )
    net.eval()
    probe = torch.randn(4, *input_shape, generator=torch_generator(0, "probe"))
    with torch.no_grad():
        probe = probe.to(next(net.parameters()).device)
        if not torch.equal(net(probe), net(probe)):
            raise UserError(
                f"model={model_name} is random in eval mode (functional dropout?); "
                f"posterior=mc_dropout needs nn.Dropout modules"
            )
    if not any(type(m) is nn.Dropout and m.p > 0 for m in net.modules()):
        raise UserError(
            f"posterior=mc_dropout needs dropout, but model={model_name} has no "
            f"nn.Dropout with p > 0; set model.dropout > 0 or choose another posterior"
        )


def sequential_plan(net: nn.Module) -> list[nn.Module] | None:
    """``features`` layers then ``classifier``, if that is exactly what ``net`` computes and
    every dropout sits directly in that list; otherwise None (full passes)."""
    features, classifier = getattr(net, "features", None), getattr(net, "classifier", None)
    if not isinstance(features, nn.Sequential) or not isinstance(classifier, nn.Module):
        return None
    flat = [*features, classifier]
    top = {id(m) for m in flat}
    if any(type(m) is nn.Dropout and id(m) not in top for m in net.modules()):
        return None
    return flat


def is_full_flatten(m: nn.Module) -> bool:
    return isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1


def dropout_mask(
    shape: tuple[int, ...], p: float, gen: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Bernoulli(1 - p) keep-mask scaled by 1 / (1 - p), as nn.Dropout applies in training."""
    keep = torch.rand(shape, generator=gen, device=gen.device) >= p
    return (keep.to(torch.float32) / (1.0 - p)).to(device)


class MCDropout(SampledPosterior):
    def __init__(
        self,
        factory: NetworkFactory,
        samples: int = 20,
        consistent_masks: bool = True,
        test_dropout: bool = True,
    ):
        super().__init__(factory, samples, "MC Dropout needs at least 2")
        self.consistent = bool(consistent_masks)
        self.test_dropout = bool(test_dropout)
        check_dropout_model(factory.build(0), factory.input_shape, factory.model_name)
        self.provides = frozenset({"samples", "multiple_samples"}) | network_provides(factory)
        if self.consistent:
            self.provides |= {"consistent_samples"}
        self.sample_index: int | None = None
        self.fast = True
        """Use the prefix-once path when the model allows it (False: full passes, for tests)."""

    def fit(self, x: torch.Tensor, y: torch.Tensor, seed: int) -> None:
        if self.net is None or not self.factory.warm_start:
            self.net = self.factory.build(seed)
            self.dropouts = [m for m in self.net.modules() if type(m) is nn.Dropout]
            self.index = {id(m): k for k, m in enumerate(self.dropouts)}
            self.plan = sequential_plan(self.net)
            for m in self.dropouts:
                m.register_forward_hook(self._hook)
        self.factory.train(self.net, x, y, seed)
        self.net.eval()
        self.mask_seed = derive_seed(seed, "mc_dropout_masks")
        self.masks: dict[int, torch.Tensor] = {}
        self.fused: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.gen = torch_generator(self.mask_seed, "fresh", device=x.device)

    # -- masks ----------------------------------------------------------------------------

    def _masks_for(self, k: int, h: torch.Tensor, per_sample_dims: int) -> torch.Tensor:
        """Masks for dropout ``k`` on ``h``: ``[T, *feat]`` if consistent, else ``[b, T, *feat]``
        fresh for every input. ``per_sample_dims`` leading dims of ``h`` are not features."""
        feat = tuple(h.shape[per_sample_dims:])
        p = self.dropouts[k].p
        if not self.consistent:
            return dropout_mask((len(h), self.samples, *feat), p, self.gen, h.device)
        if k not in self.masks or self.masks[k].shape[1:] != feat:
            gen = torch_generator(self.mask_seed, "layer", k)
            self.masks[k] = dropout_mask((self.samples, *feat), p, gen, h.device)
        return self.masks[k]

    def _hook(self, module: nn.Module, inputs: tuple, out: torch.Tensor) -> torch.Tensor | None:
        """In a full pass, apply sample ``sample_index``'s mask (eval-mode dropout is identity)."""
        if self.sample_index is None or module.training:
            return None
        if not self.consistent:
            return out * dropout_mask(out.shape, module.p, self.gen, out.device)
        return out * self._masks_for(self.index[id(module)], out, 1)[self.sample_index]

    # -- sampling -------------------------------------------------------------------------

    def full_pass_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, b, C]`` by T full passes of the network, each under its own masks."""
        outs = []
        try:
            for t in range(self.samples):
                self.sample_index = t
                outs.append(self.net(x))
        finally:
            self.sample_index = None
        return torch.stack(outs)

    def fast_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, b, C]``: the deterministic prefix once, the stochastic rest batched over T."""
        plan, b, T = self.plan, len(x), self.samples
        h, per_sample, i = x, False, 0  # h is [b, ...] until the first dropout, then [b, T, ...]
        while i < len(plan):
            m = plan[i]
            if type(m) is nn.Dropout:
                k = self.index[id(m)]
                j = i + 1
                while j < len(plan) and is_full_flatten(plan[j]):
                    j += 1
                fusable = j < len(plan) and isinstance(plan[j], nn.Linear)
                if self.consistent and not per_sample and fusable:
                    h = self._fused_linear(k, plan[j], h)
                    per_sample, i = True, j + 1
                    continue
                masks = self._masks_for(k, h, 2 if per_sample else 1)
                h = (h if per_sample else h.unsqueeze(1)) * masks
                per_sample = True
            elif per_sample and isinstance(m, nn.Linear):
                h = m(h)
            elif per_sample:
                h = m(h.flatten(0, 1)).unflatten(0, (b, T))
            else:
                h = m(h)
            i += 1
        if not per_sample:
            raise RuntimeError("the sequential plan has no dropout")  # refused at start-up
        return h.transpose(0, 1)

    def _fused_linear(self, k: int, linear: nn.Linear, h: torch.Tensor) -> torch.Tensor:
        """Dropout ``k`` then ``linear`` for all T masks at once: ``h`` [b, *feat] -> [b, T, out].

        With mask m_t, (h * m_t) W^T = h (W diag(m_t))^T: the T masked weight matrices are
        stacked into one [T*out, in] matrix, made once per round."""
        if k not in self.fused:
            masks = self._masks_for(k, h, 1).flatten(1)  # [T, in]
            w = (linear.weight.unsqueeze(0) * masks.unsqueeze(1)).flatten(0, 1)  # [T*out, in]
            bias = (
                linear.bias.repeat(self.samples)
                if linear.bias is not None
                else torch.zeros(len(w), device=w.device)
            )
            self.fused[k] = (w.contiguous(), bias)
        w, bias = self.fused[k]
        return torch.addmm(bias, h.flatten(1), w.t()).unflatten(1, (self.samples, -1))

    @torch.no_grad()
    def sample_logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.fast and self.plan is not None:
            return self.fast_logits(x)
        return self.full_pass_logits(x)

    def sample_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.sample_logits(x), dim=-1)

    @torch.no_grad()
    def predict_probs(self, x: torch.Tensor) -> torch.Tensor:
        """What evaluation scores: the mean over the T samples, or with ``test_dropout`` off
        the network with dropout off (Keras's test mode, as Gal et al. 2017 evaluated)."""
        if self.test_dropout:
            return super().predict_probs(x)
        return torch.softmax(self.net(x), dim=-1)  # eval mode, no sample: dropout is identity
