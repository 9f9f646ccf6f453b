"""Model-change strategies on the last layer's loss gradient, in closed form.

For cross-entropy with softmax output p and last-layer input h (with a 1 for the bias), the
gradient with respect to the last layer's weights for label y is (p - e_y) outer h, so its
norm is ||p - e_y|| ||h||. Both strategies use this directly: no backward pass per input.
"""

from __future__ import annotations

import numpy as np
import torch

from al_cli.last_layer import layer_inputs, layer_weights
from al_cli.progress import steps
from al_cli.strategies.base import Context, Selection, Strategy
from al_cli.strategies.candidates import Candidates
from al_cli.strategies.selection import check_selection, picked, select_batch, top_k
from al_cli.threads import one_thread


def expected_gradient_length(probs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """sum_y p(y|x) ||grad of the loss for label y||, per input (Settles et al. 2008).

    ``probs`` ``[N, C]``: the model's predictive distribution; ``h`` ``[N, D]``: the inputs of
    the layer whose gradient is measured. ||p - e_y||^2 = ||p||^2 - 2 p_y + 1.
    """
    sq = (probs * probs).sum(dim=1, keepdim=True)
    residual = (sq - 2 * probs + 1).clamp_min(0).sqrt()  # [N, C]: ||p - e_y|| for each y
    return (probs * residual).sum(dim=1) * h.norm(dim=1)


ROWS = 2048
"""Rows of BADGE's layer inputs converted to float64 at a time (a multiple of 8: see
``row_dots``)."""


def row_norms(h: torch.Tensor) -> torch.Tensor:
    """Each row's squared norm in float64, ``ROWS`` rows converted at a time."""
    return torch.cat([(x * x).sum(1) for x in (rows.double() for rows in h.split(ROWS))])


def row_dots(h: torch.Tensor, j: int, out: torch.Tensor) -> torch.Tensor:
    """``h @ h[j]`` in float64 into ``out``, ``ROWS`` rows converted at a time into one buffer
    (which stays in cache).

    On the CPU, bit for bit what a full float64 copy of ``h`` gives (MKL's dot products depend
    on their operands' alignment): every row, ``h[j]`` too, is converted to where it would lie
    in the copy, modulo 64 bytes (8 float64 rows of any width span a multiple of 64 bytes).
    """
    hj = h.new_empty((8, h.shape[1]), dtype=torch.float64)[j % 8].copy_(h[j])
    chunk = h.new_empty((min(ROWS, len(h)), h.shape[1]), dtype=torch.float64)
    for rows, dots in zip(h.split(ROWS), out.split(ROWS), strict=True):
        torch.mv(chunk[: len(rows)].copy_(rows), hj, out=dots)
    return out


def kmeanspp_gradients(
    probs: torch.Tensor, h: torch.Tensor, k: int, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """k-means++ seeding (Arthur & Vassilvitskii 2007) on BADGE's gradient embeddings.

    The embedding of input i is g_i = a_i outer h_i with a_i = p_i - e_{argmax p_i} (Ash et al.
    2020). It is never formed: ||g_i - g_j||^2 = ||a_i||^2 ||h_i||^2 + ||a_j||^2 ||h_j||^2
    - 2 (a_i . a_j)(h_i . h_j), so each pick costs O(N (C + D)) and memory stays O(N (C + D)).
    The first center is the largest gradient; each next one is drawn with probability
    proportional to its squared distance to the nearest chosen center. Returns the picks and,
    as their scores, that squared distance when each was drawn (the first: its squared norm).

    ``h`` ``[N, D]`` is held once, in the precision it comes in (float32 from the network),
    not beside a float64 copy: its products are computed in float64 a chunk of rows at a time.
    """
    a = probs.double() - torch.nn.functional.one_hot(probs.argmax(1), probs.shape[1]).double()
    sq = (a * a).sum(1) * row_norms(h)
    n = len(sq)
    chosen = torch.zeros(n, dtype=torch.bool, device=sq.device)
    d2 = torch.full_like(sq, float("inf"))
    hh = torch.empty_like(sq)
    picks = [int(top_k(sq, 1, generator)[0])]
    scores = [float(sq[picks[0]])]
    with one_thread():  # memory-bound passes: threads gain little, and lose much on busy cores
        for _ in steps(k - 1, "k-means++", "pick"):
            j = picks[-1]
            chosen[j] = True
            dist = sq + sq[j] - 2 * (a @ a[j]) * row_dots(h, j, hh)
            d2 = torch.minimum(d2, dist.clamp_min(0))
            weights = torch.where(chosen, 0.0, d2).cpu()
            if not weights.sum() > 0:  # every remaining input duplicates a center: uniform
                weights = (~chosen).double().cpu()
            picks.append(int(torch.multinomial(weights, 1, generator=generator)))
            scores.append(float(d2[picks[-1]]))
    return np.asarray(picks, dtype=np.int64), np.asarray(scores)


def last_layer_view(ctx: Context, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The softmax of the last layer ``[n, C]`` and its inputs ``[n, D(+1)]`` at ``x``."""
    layer = ctx.learner.last_layer()
    h = layer_inputs(ctx.learner.embed(x), layer)
    return torch.softmax(h @ layer_weights(layer).T, dim=1), h


class EGLStrategy(Strategy):
    """Expected Gradient Length: the inputs whose label would change the last layer most."""

    needs = frozenset({"embed", "last_layer"})

    def __init__(
        self, selection: str = "topk", temperature: float = 1.0, candidates: int | None = None
    ):
        check_selection(selection, temperature)
        super().__init__(candidates)
        self.selection, self.temperature = selection, float(temperature)

    def choose(self, ctx: Context, candidates: Candidates, k: int) -> Selection:
        scores = expected_gradient_length(*last_layer_view(ctx, candidates.x))
        chosen = select_batch(scores, k, self.selection, self.temperature, ctx.generator)
        return picked(scores, chosen)

    def describe(self) -> dict[str, str]:
        return {"acquisition": "egl", "selection": self.selection}


class BadgeStrategy(Strategy):
    """BADGE: a batch both uncertain (large gradient) and diverse (k-means++ seeding)."""

    needs = frozenset({"embed", "last_layer"})

    def choose(self, ctx: Context, candidates: Candidates, k: int) -> Selection:
        chosen, scores = kmeanspp_gradients(*last_layer_view(ctx, candidates.x), k, ctx.generator)
        return Selection(chosen, scores)

    def describe(self) -> dict[str, str]:
        return {"acquisition": "badge", "selection": "kmeans++"}
