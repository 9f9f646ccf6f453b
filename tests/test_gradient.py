"""EGL and BADGE: the closed-form last-layer gradients against autograd, and hand-built pools."""

from __future__ import annotations

import pytest
import torch

from al_cli.last_layer import layer_inputs
from al_cli.strategies.gradient import expected_gradient_length, kmeanspp_gradients


def autograd_gradients(layer: torch.nn.Linear, h: torch.Tensor, y: int) -> torch.Tensor:
    """The flattened gradient of CE(layer(h), y) with respect to the layer's parameters."""
    layer.zero_grad()
    torch.nn.functional.cross_entropy(layer(h[None]), torch.tensor([y])).backward()
    return torch.cat([layer.weight.grad.flatten(), layer.bias.grad.flatten()])


def test_egl_equals_expected_autograd_gradient_norm():
    torch.manual_seed(0)
    layer = torch.nn.Linear(5, 4).double()
    h = torch.randn(6, 5, dtype=torch.float64)
    probs = torch.softmax(layer(h), 1).detach()
    expected = [
        sum(probs[i, y] * autograd_gradients(layer, h[i], y).norm() for y in range(4))
        for i in range(6)
    ]
    got = expected_gradient_length(probs, layer_inputs(h, layer))
    assert got.tolist() == pytest.approx([float(e) for e in expected])


def test_egl_prefers_a_large_flat_input_to_a_confident_one():
    probs = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [0.98, 0.01, 0.01], [1 / 3, 1 / 3, 1 / 3]])
    h = torch.tensor([[10.0, 0.0], [10.0, 0.0], [1.0, 0.0]])
    s = expected_gradient_length(probs, h)
    assert s[0] > s[1] and s[0] > s[2]  # flat beats confident; a large embedding beats a small


def test_badge_picks_distinct_diverse_points_over_duplicates():
    # ten copies of one uncertain input, then four distinct uncertain inputs
    flat = torch.tensor([0.5, 0.5])
    probs = torch.cat([flat.repeat(10, 1), torch.tensor([[0.6, 0.4], [0.4, 0.6]]).repeat(2, 1)])
    h = torch.cat(
        [torch.ones(10, 3), torch.tensor([[-4.0, 1, 0], [0, -4, 1], [4, 0, -4], [0, 4, 4]])]
    )
    for seed in range(10):
        picks = kmeanspp_gradients(probs, h, 5, torch.Generator().manual_seed(seed))[0]
        assert len(set(picks.tolist())) == 5
        assert sum(p < 10 for p in picks) == 1, picks  # one duplicate at most: it adds nothing
    # the first pick is the largest gradient embedding ||p - e_argmax|| ||h||
    norms = (probs - torch.eye(2)[probs.argmax(1)]).norm(dim=1) * h.norm(dim=1)
    assert picks[0] == int(norms.argmax())
    # every input can be taken, duplicates last
    picks = kmeanspp_gradients(probs, h, 14, torch.Generator().manual_seed(0))[0]
    assert sorted(picks.tolist()) == list(range(14))


def test_badge_distances_match_explicit_gradient_embeddings():
    torch.manual_seed(1)
    probs = torch.softmax(torch.randn(40, 3), 1)
    h = torch.randn(40, 4)
    g = (probs - torch.eye(3)[probs.argmax(1)])[:, :, None] * h[:, None, :]
    g = g.reshape(40, -1).double()
    # the second pick is drawn with probability proportional to the squared distance from the
    # first (the largest gradient) in the explicit C x D gradient-embedding space
    first = int((g.norm(dim=1)).argmax())
    d2 = torch.cdist(g[first : first + 1], g)[0] ** 2
    counts = torch.zeros(40)
    for seed in range(400):
        counts[kmeanspp_gradients(probs, h, 2, torch.Generator().manual_seed(seed))[0][1]] += 1
    assert counts[first] == 0
    freq, expected = counts / 400, d2 / d2.sum()
    assert (freq - expected).abs().max() < 0.08
