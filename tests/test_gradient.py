"""EGL and BADGE: the closed-form last-layer gradients against autograd, and hand-built pools."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from al_cli.last_layer import layer_inputs
from al_cli.strategies import gradient
from al_cli.strategies.gradient import expected_gradient_length, kmeanspp_gradients
from tests.conftest import script


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


@pytest.mark.parametrize(
    ("n", "c", "d", "k", "rows"),
    [
        (300, 3, 5, 40, 8),  # chunks of 8 rows
        (1000, 10, 129, 60, 64),  # the default MLP's 128 features and the bias
        (777, 4, 17, 30, 2048),  # one chunk
        (50, 2, 3, 50, 16),  # the whole pool
    ],
)
def test_badge_picks_and_scores_equal_the_float64_copy(n, c, d, k, rows, monkeypatch):
    # the float32 inputs are held once and converted a chunk at a time: the same float64
    # products, bit for bit, so the same draws
    monkeypatch.setattr(gradient, "ROWS", rows)
    old = script("bench_scale").old_kmeanspp_gradients  # BADGE's seeding with the float64 copy
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        probs = torch.softmax(3 * torch.randn(n, c, generator=g), 1)
        h = torch.randn(n, d, generator=g) * torch.rand(n, 1, generator=g) * 4 + 1
        h[: n // 5] = h[0]  # repeated inputs: equal distances, and zero ones
        expected = old(probs, h, k, torch.Generator().manual_seed(seed))
        got = kmeanspp_gradients(probs, h, k, torch.Generator().manual_seed(seed))
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])


@pytest.mark.parametrize("rows", [8, 16, 2048])
def test_row_dots_equal_a_float64_copy_bit_for_bit(rows, monkeypatch):
    # MKL's dot products depend on where their operands lie in memory: every row, h[j] too,
    # is converted where it would lie in a full float64 copy, so the products are the copy's
    monkeypatch.setattr(gradient, "ROWS", rows)
    for n, d, seed in [(7, 17, 0), (7, 17, 3), (300, 129, 1)]:
        h = torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) * 4
        h64 = h.double()
        for j in range(n):
            dots = gradient.row_dots(h, j, torch.empty(n, dtype=torch.float64))
            assert torch.equal(dots, h64 @ h64[j])
        assert torch.equal(gradient.row_norms(h), (h64 * h64).sum(1))
