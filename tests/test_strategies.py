"""One conformance test that every strategy config passes, and the hidden-label guarantee.

Every YAML in ``configs/strategy/`` is picked up: a new strategy is tested by adding its file.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import torch

from al_cli.data import Oracle, Pool
from al_cli.loop import check_selection, make_context, run_rounds
from al_cli.results import Recorder
from al_cli.setup import setup
from al_cli.strategies import Context, Selection, Strategy
from tests.conftest import FAST, compose_config

STRATEGIES = sorted(
    p.name.removesuffix(".yaml")
    for p in resources.files("al_cli.configs").joinpath("strategy").iterdir()
    if p.name.endswith(".yaml")
)
UNIT = [o for o in FAST if not o.startswith("budget.")] + [
    "dataset.n_samples=200",
    "budget.max_labels=100",  # within the 200-input set's pool: a larger budget is refused
]
PCA_DIM = "representation.dim=4"
"""For the strategies whose YAML picks representation=pca: the synthetic inputs have 10 values."""
SEVERAL = ["posterior=deep_ensemble", "posterior.members=2"]


def cases() -> list[tuple[str, list[str]]]:
    out = []
    for name in STRATEGIES:
        posterior = compose_config(f"strategy={name}").posterior.name
        out.append((name, []))
        if posterior == "deterministic":
            out.append((name, SEVERAL))
    return out


def first_round(name: str, extra: list[str], seed: int = 0):
    """Set up a run, label an initial set and fit: the state a strategy sees in round 0."""
    cfg = compose_config(*UNIT, f"strategy={name}", f"seed={seed}", *extra)
    if cfg.representation.name == "pca":
        cfg = compose_config(*UNIT, f"strategy={name}", f"seed={seed}", *extra, PCA_DIM)
    exp = setup(cfg)
    if "multiple_samples" in exp.strategy.needs:
        assert exp.learner.n_samples > 1
    pool = Pool(len(exp.split.pool_x))
    pool.add(exp.initial, exp.oracle.reveal(exp.initial), 0)
    x_lab = exp.split.pool_x[torch.as_tensor(pool.labeled_indices())]
    exp.learner.fit(x_lab, pool.revealed_labels(), seed)
    features = None if exp.features is None else exp.features.pool
    return exp, pool, make_context(exp.learner, exp.split.pool_x, pool, seed, 0, features)


@pytest.mark.parametrize(
    ("name", "extra"), cases(), ids=lambda v: v if isinstance(v, str) else "S>1" if v else ""
)
def test_strategy_conformance(name: str, extra: list[str]):
    exp, pool, ctx = first_round(name, extra)
    n = len(ctx.unlabeled_x)
    for k in (1, 7):
        answer = exp.strategy.select(ctx, k)
        assert isinstance(answer, Selection)
        sel = check_selection(answer, k, n, exp.strategy)  # the loop's own check
        pos = np.asarray(answer.positions)
        assert pos.shape == (k,) and len(set(pos.tolist())) == k
        assert pos.min() >= 0 and pos.max() < n
        assert np.issubdtype(pos.dtype, np.integer)
        if sel.scores is not None:  # one score per pick, a number (NaN: none for that pick)
            assert sel.scores.shape == (k,) and not np.isinf(sel.scores).any()
        assert set(sel.diagnostics) == set(exp.strategy.diagnostics)
    # reproducible under a seed: the same round replayed from scratch picks the same batch
    exp2, _, ctx2 = first_round(name, extra)
    features = None if exp.features is None else exp.features.pool
    again = make_context(exp.learner, exp.split.pool_x, pool, 0, 0, features)
    a, b = exp.strategy.select(again, 7), exp2.strategy.select(ctx2, 7)
    assert a.positions.tolist() == b.positions.tolist()
    assert (a.scores is None) == (b.scores is None)
    if a.scores is not None:
        np.testing.assert_array_equal(a.scores, b.scores)
    # the whole pool can be asked for
    assert sorted(exp.strategy.select(ctx, n).positions.tolist()) == list(range(n))
    # exactly the columns learning_curve.csv has for them
    assert set(exp.strategy.describe()) == {"acquisition", "selection"}


def reachable(root: object, limit: int = 20000) -> list[object]:
    """Every object reachable from ``root`` through attributes and containers."""
    seen: dict[int, object] = {}
    stack = [root]
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None), type)):
            continue
        seen[id(obj)] = obj
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        if hasattr(obj, "__dict__") and not isinstance(obj, type):
            stack.extend(vars(obj).values())
        slots = getattr(type(obj), "__slots__", None) or ()
        slots = (slots,) if isinstance(slots, str) else slots
        stack.extend(getattr(obj, s) for s in slots if hasattr(obj, s))
        if hasattr(obj, "__dataclass_fields__"):
            stack.extend(getattr(obj, f) for f in obj.__dataclass_fields__)
    return list(seen.values())


@pytest.mark.parametrize("name", STRATEGIES)
def test_strategies_never_see_hidden_labels(name: str):
    """Through a whole run, no context reaches the oracle, the data split, or a hidden label."""
    cfg = compose_config(*FAST, f"strategy={name}")
    if cfg.representation.name == "pca":
        cfg = compose_config(*FAST, f"strategy={name}", PCA_DIM)
    exp = setup(cfg)
    seen: list = []
    select = exp.strategy.select

    def spy(ctx, k):
        seen.append(ctx)
        return select(ctx, k)

    exp.strategy.select = spy
    recorder = Recorder.__new__(Recorder)
    recorder.curve, recorder.queries = [], []
    recorder.record = lambda row, queries, state: (
        recorder.curve.append(row),
        recorder.queries.extend(queries),
    )
    run_rounds(
        exp,
        0,
        recorder,
    )
    assert len(seen) == 3
    for ctx in seen:
        objects = reachable(ctx)
        ids = {id(o) for o in objects}
        assert id(exp.oracle) not in ids and id(exp.split) not in ids
        assert not any(isinstance(o, Oracle) for o in objects)
        assert id(exp.split.pool_y) not in ids and id(exp.oracle._labels) not in ids
        # the labels a strategy gets are exactly those revealed so far, in order
        revealed = [q["label"] for q in recorder.queries if q["round"] <= ctx.round]
        assert ctx.labeled_y.tolist() == revealed
        assert len(ctx.unlabeled_x) + len(ctx.labeled_x) == len(exp.split.pool_x)


class Odd(Strategy):
    """A user's strategy that gets its declarations wrong."""

    def __init__(self, extra: bool = False, diagnostic: str = "fine"):
        self.extra, self.diagnostics = extra, (diagnostic,)

    def choose(self, ctx, candidates, k):
        return Selection(np.arange(k), None, {"undeclared": 1.0})

    def describe(self):
        return {"acquisition": "odd", "selection": "odd", **({"more": 1} if self.extra else {})}


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"extra": True}, "exactly the keys acquisition and selection"),
        ({"diagnostic": "test_accuracy"}, "not a new column name"),
        ({"diagnostic": "not a name"}, "not a new column name"),
    ],
)
def test_wrong_declarations_are_refused_when_the_strategy_is_built(keys: dict, message: str):
    from omegaconf import OmegaConf

    from al_cli.errors import UserError
    from al_cli.strategies import build_strategy

    cfg = OmegaConf.create({"name": "odd", "_target_": "tests.test_strategies.Odd", **keys})
    with pytest.raises(UserError, match=message):
        build_strategy(cfg)


def test_an_undeclared_diagnostic_names_the_strategy():
    with pytest.raises(RuntimeError, match="Odd reported diagnostics"):
        check_selection(Odd().choose(None, None, 3), 3, 10, Odd())


class Halfway(Strategy):
    """A user's strategy that forgets to implement ``choose``."""

    def describe(self):
        return {"acquisition": "halfway", "selection": "none"}


def test_a_strategy_missing_an_abstract_method_is_refused_in_one_line():
    from omegaconf import OmegaConf

    from al_cli.errors import UserError
    from al_cli.strategies import build_strategy

    cfg = OmegaConf.create({"name": "h", "_target_": "tests.test_strategies.Halfway"})
    with pytest.raises(UserError, match="does not implement choose"):
        build_strategy(cfg)


class Seen(Strategy):
    """Takes the first ``k`` candidates it is shown, and keeps them."""

    def choose(self, ctx, candidates, k):
        self.shown = candidates
        return Selection(np.arange(k), np.zeros(k))

    def describe(self):
        return {"acquisition": "seen", "selection": "first"}


def test_select_draws_the_candidates_once_and_maps_choose_back_to_the_pool():
    from types import SimpleNamespace

    from al_cli.strategies.candidates import candidate_positions

    x = torch.arange(40.0)[:, None]
    ctx = SimpleNamespace(unlabeled_x=x, rng=np.random.default_rng(3))
    strategy = Seen(candidates=12)
    sel = strategy.select(ctx, 4)
    expected = candidate_positions(40, 12, np.random.default_rng(3), 4)
    assert strategy.shown.positions.tolist() == expected.tolist() and len(strategy.shown) == 12
    assert torch.equal(strategy.shown.x, x[expected])
    assert sel.positions.tolist() == expected[:4].tolist()  # positions into the pool
    whole = Seen()
    whole.select(ctx, 4)
    assert whole.shown.positions.tolist() == list(range(40))


class Wraps(Strategy):
    """Answers with a negative position, which numpy would wrap into the pool."""

    def choose(self, ctx, candidates, k):
        return Selection(np.array([-1, 0]))

    def describe(self):
        return {"acquisition": "wraps", "selection": "none"}


def test_positions_into_the_candidates_are_checked_before_they_are_mapped_to_the_pool():
    ctx = Context(None, torch.zeros(8, 2), None, None, np.random.default_rng(0), None, 0)
    with pytest.raises(RuntimeError, match="Wraps returned repeated or out-of-range positions"):
        Wraps().select(ctx, 2)
