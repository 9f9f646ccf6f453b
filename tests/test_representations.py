"""Representations (``representation=``): whitened PCA fitted on the pool alone, features read
from a file and checked key by key, the cache (computed once, also by racing processes; a
broken file is computed again, never read), the run identity, and strategies that measure
distances in the representation instead of the classifier's embeddings."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA as SkPCA

from al_cli.data import DataSplit, Pool
from al_cli.errors import UserError
from al_cli.loop import make_context
from al_cli.representations import build_representation, load_features
from al_cli.representations.base import Features
from al_cli.representations.cache import cached, read, write
from al_cli.representations.file import FeaturesFile
from al_cli.representations.pca import PCA, whitened_pca
from al_cli.results import identity_config
from al_cli.strategies import Context
from al_cli.strategies.candidates import Candidates
from al_cli.strategies.diversity import CoresetStrategy, KMeansStrategy, k_center_greedy
from tests.conftest import DIGITS_TINY, FAST, compose_config, one_line_error, run_al, run_info
from tests.test_identity import run_dir


def split_of(pool_x: torch.Tensor, test_x: torch.Tensor) -> DataSplit:
    """A data set of these inputs (labels that no representation may read: all zero)."""
    zeros = torch.zeros(len(pool_x), dtype=torch.long)
    return DataSplit("toy", pool_x, zeros, test_x, torch.zeros(len(test_x), dtype=torch.long), 2)


def correlated(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mixing = torch.randn(d, d, generator=g) * torch.linspace(3, 0.1, d)
    return torch.randn(n, d, generator=g) @ mixing + 5


# ---------------------------------------------------------------- pca


def test_pca_whitens_the_pool_and_matches_sklearn():
    """Zero mean and identity covariance on the pool; the test set projected with the pool's
    fit, as sklearn's whitened PCA fitted on the pool does (up to each component's sign)."""
    pool, test = correlated(400, 12, 0), correlated(100, 12, 1) * 2
    features = PCA(dim=5).compute(split_of(pool.reshape(400, 3, 2, 2), test.reshape(100, 3, 2, 2)))
    f = features.pool.double().numpy()
    assert features.pool.shape == (400, 5) and features.test.shape == (100, 5)
    np.testing.assert_allclose(f.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(np.cov(f, rowvar=False), np.eye(5), atol=1e-5)
    reference = SkPCA(n_components=5, whiten=True, svd_solver="full").fit(pool.double().numpy())
    for ours, theirs in ((features.pool, pool), (features.test, test)):
        expected = reference.transform(theirs.double().numpy())
        signs = np.sign((ours.double().numpy() * expected).sum(0))
        np.testing.assert_allclose(ours.double().numpy() * signs, expected, atol=1e-4)


def test_pca_is_fitted_on_the_pool_only():
    """Another test set changes no pool feature and no projection: the test rows are the
    pool's mean and projection applied to them, and their mean is not zero."""
    pool = correlated(300, 8, 2)
    a = PCA(dim=4).compute(split_of(pool, correlated(50, 8, 3)))
    other_test = correlated(80, 8, 4) * 3 + 7
    b = PCA(dim=4).compute(split_of(pool, other_test))
    assert torch.equal(a.pool, b.pool)
    mean, projection = whitened_pca(pool, 4)
    expected = ((other_test.double() - mean) @ projection).float()
    torch.testing.assert_close(b.test, expected)
    assert b.test.mean(0).abs().max() > 1  # not centred by itself: the pool's fit


def test_pca_signs_do_not_depend_on_the_solver():
    """Each component's largest coordinate is positive, so a flipped eigenvector gives the same
    features (the cache is shared between machines)."""
    mean, projection = whitened_pca(correlated(200, 6, 5), 3)
    peak = projection.abs().argmax(0)
    assert (projection[peak, torch.arange(3)] > 0).all()


@pytest.mark.parametrize(
    ("dim", "words"),
    [(0, "positive integer"), (9, "exceeds"), (6, "only 5 directions")],
)
def test_pca_refuses_a_dim_the_pool_cannot_give(dim: int, words: str):
    pool = torch.cat([correlated(100, 5, 6), torch.zeros(100, 3)], 1)  # rank 5 of 8 values
    with pytest.raises(UserError, match=rf"representation\.dim={dim}.*{words}"):
        PCA(dim=dim).compute(split_of(pool, pool[:10]))


# ---------------------------------------------------------------- file


@pytest.fixture
def toy() -> DataSplit:
    return split_of(torch.randn(30, 4), torch.randn(12, 4))


def features_file(tmp_path: Path, **arrays: np.ndarray) -> str:
    path = tmp_path / "features.npz"
    np.savez(path, **arrays)
    return str(path)


def test_file_features_are_read_row_for_row(tmp_path: Path, toy: DataSplit):
    pool, test = np.random.default_rng(0).normal(size=(30, 7)), np.ones((12, 7))
    features = FeaturesFile(features_file(tmp_path, pool=pool, test=test)).compute(toy)
    assert features.pool.dtype == torch.float32
    np.testing.assert_allclose(features.pool.numpy(), pool, rtol=1e-6)
    np.testing.assert_array_equal(features.test.numpy(), test)


BAD_FILES = {
    # name: (arrays, words of the one-line refusal)
    "pool_too_short": (
        {"pool": np.zeros((29, 3)), "test": np.zeros((12, 3))},
        ["'pool'", "(29, 3)", "30 pool inputs", "[30, D]"],
    ),
    "test_too_long": (
        {"pool": np.zeros((30, 3)), "test": np.zeros((13, 3))},
        ["'test'", "(13, 3)", "12 test inputs"],
    ),
    "no_test": ({"pool": np.zeros((30, 3))}, ["no array 'test'", "arrays found: pool"]),
    "one_dimensional": ({"pool": np.zeros(30), "test": np.zeros((12, 3))}, ["'pool'", "(30,)"]),
    "nan": (
        {"pool": np.zeros((30, 3)), "test": np.where(np.eye(12, 3) > 0, np.nan, 0.0)},
        ["'test'", "non-finite", "3 rows", "the first row 0"],
    ),
    "inf": (
        {"pool": np.full((30, 3), np.inf), "test": np.zeros((12, 3))},
        ["'pool'", "non-finite"],
    ),
    "strings": ({"pool": np.full((30, 3), "a"), "test": np.zeros((12, 3))}, ["'pool'", "<U1"]),
    "widths": (
        {"pool": np.zeros((30, 3)), "test": np.zeros((12, 4))},
        ["'pool' has 3 features", "'test' 4"],
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_features_file_is_refused_in_one_line(tmp_path: Path, toy: DataSplit, name: str):
    arrays, words = BAD_FILES[name]
    path = features_file(tmp_path, **arrays)
    with pytest.raises(UserError) as info:
        FeaturesFile(path).compute(toy)
    line = str(info.value)
    assert "\n" not in line and line.startswith(f"representation.path={path}")
    for word in words:
        assert word in line, line


def test_a_missing_or_unreadable_file_is_refused(tmp_path: Path, toy: DataSplit):
    with pytest.raises(UserError, match="representation.path is not set"):
        FeaturesFile(None)
    with pytest.raises(UserError, match="is not a file"):
        FeaturesFile(str(tmp_path / "absent.npz")).compute(toy)
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(UserError, match="cannot be read as an .npz"):
        FeaturesFile(str(tmp_path / "garbage.npz")).compute(toy)


# ---------------------------------------------------------------- the cache


KEY = {"version": 1, "data": "abc", "representation": {"dim": 2}}


def toy_features(seed: int = 0) -> Features:
    g = torch.Generator().manual_seed(seed)
    return Features(torch.randn(6, 2, generator=g), torch.randn(3, 2, generator=g))


class Counted:
    """A computation that counts its calls."""

    def __init__(self, seed: int = 0):
        self.calls, self.seed = 0, seed

    def __call__(self) -> Features:
        self.calls += 1
        return toy_features(self.seed)


def test_the_second_request_is_a_hit(tmp_path: Path):
    path, compute = tmp_path / "cache" / "pca-1.npz", Counted()
    first, hit = cached(path, KEY, (6, 3), compute)
    assert not hit and compute.calls == 1 and path.is_file()
    second, hit = cached(path, KEY, (6, 3), compute)
    assert hit and compute.calls == 1
    assert torch.equal(first.pool, second.pool) and torch.equal(first.test, second.test)
    assert sorted(p.name for p in path.parent.iterdir()) == ["pca-1.npz"]  # no lock, no temp


@pytest.mark.parametrize(
    "damage", ["truncated", "empty", "other_key", "other_rows", "not_finite", "stale_temp"]
)
def test_a_broken_cache_file_is_computed_again_not_read(tmp_path: Path, damage: str):
    path, compute = tmp_path / "pca-1.npz", Counted(seed=1)
    write(path, KEY, toy_features(seed=2))
    if damage == "truncated":  # as a copy cut short, or a full disk, would leave it
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "other_key":
        write(path, {**KEY, "data": "other"}, toy_features(seed=2))
    elif damage == "other_rows":
        write(path, KEY, Features(torch.zeros(5, 2), torch.zeros(3, 2)))
    elif damage == "not_finite":
        write(path, KEY, Features(torch.full((6, 2), float("nan")), torch.zeros(3, 2)))
    else:  # a write killed before its rename: the file is whole, its temporary is left over
        tmp = tmp_path / ".pca-1.npz.x1y2.tmp"
        tmp.write_bytes(b"half")
    expected = toy_features(seed=2 if damage == "stale_temp" else 1)
    features, hit = cached(path, KEY, (6, 3), compute)
    assert hit == (damage == "stale_temp") and compute.calls == (damage != "stale_temp")
    assert torch.equal(features.pool, expected.pool)
    assert torch.equal(read(path, KEY, (6, 3)).pool, expected.pool)  # whole again
    if damage == "stale_temp":
        assert tmp.exists()  # a hit takes no lock and removes nothing


def slow_compute(log: str) -> Features:
    """Counts itself in ``log`` (one line per call), then takes a while."""
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(1.5)
    return toy_features(seed=3)


def race(path: str, log: str, out: str) -> None:
    """One job asking the cache for the features (run in a process of its own)."""
    features, hit = cached(Path(path), KEY, (6, 3), lambda: slow_compute(log))
    np.save(out, features.pool.numpy())


def test_two_processes_at_once_compute_once(tmp_path: Path):
    """Two jobs that ask at the same moment: one computes, the other waits and reads it."""
    spawn = multiprocessing.get_context("spawn")
    path, log = tmp_path / "cache" / "pca-1.npz", tmp_path / "computed.log"
    jobs = [
        spawn.Process(target=race, args=(str(path), str(log), str(tmp_path / f"out{i}.npy")))
        for i in range(2)
    ]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=120)
        assert job.exitcode == 0
    assert len(log.read_text().splitlines()) == 1
    for i in range(2):
        np.testing.assert_array_equal(np.load(tmp_path / f"out{i}.npy"), toy_features(3).pool)


def killed_mid_write(path: str, ready: str) -> None:
    """Holds the key's lock with a half-written temporary, until it is killed."""

    def compute() -> Features:
        Path(path).parent.joinpath(f".{Path(path).name}.dead.tmp").write_bytes(b"PK half")
        Path(ready).touch()
        time.sleep(600)
        raise AssertionError("not killed")

    cached(Path(path), KEY, (6, 3), compute)


def test_a_job_killed_mid_write_leaves_nothing_that_is_read(tmp_path: Path):
    """kill -9 while computing: the lock dies with the job, the next job computes the features
    itself (not blocked, not reading the half-written temporary) and removes the temporary."""
    path, ready = tmp_path / "pca-1.npz", tmp_path / "ready"
    job = multiprocessing.get_context("spawn").Process(
        target=killed_mid_write, args=(str(path), str(ready))
    )
    job.start()
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert job.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(job.pid, signal.SIGKILL)
    job.join()
    compute = Counted(seed=4)
    features, hit = cached(path, KEY, (6, 3), compute)
    assert not hit and compute.calls == 1
    assert torch.equal(features.pool, toy_features(4).pool)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pca-1.npz", "ready"]


def test_load_features_keys_by_data_and_settings(tmp_path: Path):
    """One file per data and settings: the same config is a hit, another dim or another split
    of the data another file; run.json's record names the file."""
    base = [*FAST, f"paths.cache_dir={tmp_path}", "representation=pca", "representation.dim=4"]
    records = []
    for overrides in (base, base, [*base, "representation.dim=3"], [*base, "dataset.split_seed=1"]):
        cfg = compose_config(*overrides)
        from al_cli.data import load_dataset

        split = load_dataset(cfg.dataset)
        representation = build_representation(cfg.representation)
        features, record = load_features(representation, cfg, split, torch.device("cpu"))
        assert features.pool.shape == (len(split.pool_x), cfg.representation.dim)
        records.append(record)
    assert [r["from_cache"] for r in records] == [False, True, False, False]
    assert len({r["path"] for r in records}) == 3 and records[0]["path"] == records[1]["path"]
    assert all(Path(r["path"]).is_file() and r["key"] in r["path"] for r in records)


# ---------------------------------------------------------------- identity


def test_representation_none_is_no_part_of_the_identity(monkeypatch):
    monkeypatch.delenv("AL_DATA_DIR", raising=False)
    for base in ([], ["strategy=coreset"], ["strategy=kmeans"], ["dataset=mnist", "model=cnn"]):
        assert run_dir(*base, "representation=none") == run_dir(*base)
        assert run_dir(*base, "paths.cache_dir=/elsewhere") == run_dir(*base)
    assert run_dir("strategy=coreset", "strategy.space=embedding") == run_dir("strategy=coreset")
    assert "representation" not in identity_config(compose_config())


def test_a_representation_in_use_is_part_of_the_identity(monkeypatch):
    monkeypatch.delenv("AL_DATA_DIR", raising=False)
    space = ["strategy=coreset", "strategy.space=representation"]
    folders = {
        run_dir("strategy=coreset"),
        run_dir(*space, "representation=pca"),
        run_dir(*space, "representation=pca", "representation.dim=8"),
        run_dir(*space, "representation=file", "representation.path=a.npz"),
        run_dir(*space, "representation=file", "representation.path=b.npz"),
    }
    assert len(folders) == 5
    identity = identity_config(compose_config("representation=pca"))
    assert identity["representation"] == {
        "name": "pca", "_target_": "al_cli.representations.pca.PCA", "dim": 32
    }  # fmt: skip


# ---------------------------------------------------------------- strategies


class Embedder:
    """A learner whose embedding is its input, and that counts the calls."""

    def __init__(self):
        self.calls = 0

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x


def context(learner, pool_x, pool_features, labeled: list[int]) -> Context:
    pool = Pool(len(pool_x))
    pool.add(np.asarray(labeled), torch.zeros(len(labeled), dtype=torch.long), 0)
    return make_context(learner, pool_x, pool, seed=0, round_=1, features=pool_features)


def test_the_context_holds_features_row_for_row():
    pool_x = torch.arange(20.0).reshape(10, 2)
    ctx = context(Embedder(), pool_x, pool_x * 10, [7, 2])
    torch.testing.assert_close(ctx.unlabeled_features, ctx.unlabeled_x * 10)
    torch.testing.assert_close(ctx.labeled_features, ctx.labeled_x * 10)
    assert context(Embedder(), pool_x, None, [7, 2]).unlabeled_features is None


def test_coreset_in_the_representation_is_k_center_greedy_on_the_features():
    """The picks in space=representation are k_center_greedy's on the features (the learner
    never asked), and differ from those in the classifier's embedding."""
    g = torch.Generator().manual_seed(0)
    pool_x = torch.randn(200, 3, generator=g)
    features = torch.randn(200, 5, generator=g) * torch.tensor([1.0, 5, 1, 1, 3])
    labeled = [0, 1, 2]
    learner = Embedder()
    strategy = CoresetStrategy(space="representation")
    assert strategy.needs == frozenset({"representation"})
    sel = strategy.select(context(learner, pool_x, features, labeled), 10)
    assert learner.calls == 0
    ctx = context(learner, pool_x, features, labeled)
    unlabeled, labeled_features = ctx.unlabeled_features, ctx.labeled_features
    expected, gaps, _ = k_center_greedy(unlabeled, labeled_features, 10, ctx.generator)
    assert sel.positions.tolist() == expected.tolist()
    np.testing.assert_allclose(sel.scores, gaps)
    in_embedding = CoresetStrategy().select(context(learner, pool_x, features, labeled), 10)
    assert learner.calls == 2 and set(in_embedding.positions) != set(sel.positions)


def test_kmeans_in_the_representation_clusters_the_features():
    """Four clusters in the features, none in the inputs: one pick per cluster."""
    g = torch.Generator().manual_seed(1)
    means = torch.tensor([[0.0, 0.0], [20.0, 0.0], [0.0, 20.0], [20.0, 20.0]])
    features = torch.cat([m + torch.randn(25, 2, generator=g) for m in means])
    pool_x = torch.randn(100, 2, generator=g)
    learner = Embedder()
    strategy = KMeansStrategy(space="representation")
    sel = strategy.select(context(learner, pool_x, features, []), 4)
    assert learner.calls == 0 and strategy.needs == frozenset({"representation"})
    unlabeled = np.arange(100)  # nothing labeled: positions are pool rows
    assert sorted(int(unlabeled[p]) // 25 for p in sel.positions) == [0, 1, 2, 3]


def test_space_representation_without_features_says_what_to_set():
    strategy = CoresetStrategy(space="representation")
    ctx = context(Embedder(), torch.randn(10, 2), None, [0])
    with pytest.raises(UserError, match="set representation="):
        strategy.choose(ctx, Candidates(np.arange(9), ctx.unlabeled_x), 2)


# ---------------------------------------------------------------- through the real command


def test_al_run_coreset_on_pca_then_kmeans_reuses_it(tmp_path: Path):
    """Two real runs on digits: the first computes and caches the representation, the second
    (another strategy) reads it; each records it in run.json and selects in it."""
    cache = tmp_path / "cache"
    common = [
        *DIGITS_TINY,
        "representation=pca",
        "strategy.space=representation",
        f"paths.cache_dir={cache}",
        f"paths.results_dir={tmp_path / 'results'}",
    ]
    records = []
    for strategy in ("coreset", "kmeans"):
        out = run_al("run", f"strategy={strategy}", *common)
        assert out.returncode == 0, out.stderr
        (info,) = (tmp_path / "results").glob(f"digits/mlp/{strategy}-*/seed0/run.json")
        run = run_info(info.parent)
        assert run["status"] == "finished" and run["rounds"] == 3
        assert run["config"]["strategy"]["space"] == "representation"
        records.append(run["representation"])
    assert [r["from_cache"] for r in records] == [False, True]
    assert records[0]["key"] == records[1]["key"] and records[0]["name"] == "pca"
    (cached_file,) = (cache / "representations").iterdir()
    assert str(cached_file) == records[0]["path"] and records[0]["key"] in cached_file.name


def test_al_run_refuses_a_features_file_of_another_length(tmp_path: Path):
    path = features_file(tmp_path, pool=np.zeros((5, 3)), test=np.zeros((5, 3)))
    out = run_al(
        "run",
        *FAST,
        "representation=file",
        f"representation.path={path}",
        "strategy=coreset",
        "strategy.space=representation",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    one_line_error(out, "representation.path", "'pool'", "(5, 3)", "225 pool inputs")
    assert not (tmp_path / "run").exists()


def test_features_in_load_splits_order_run_through_al_run(tmp_path: Path):
    """A file written in ``al_cli.load_split``'s order is accepted; run.json names the file and
    the fingerprint of its features."""
    from al_cli import load_split

    split = load_split(*FAST)
    path = features_file(tmp_path, pool=split.pool_x.numpy() * 2, test=split.test_x.numpy() * 2)
    out = run_al(
        "run",
        *FAST,
        "representation=file",
        f"representation.path={path}",
        "strategy=kmeans",
        "strategy.space=representation",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert out.returncode == 0, out.stderr
    record = run_info(tmp_path / "run")["representation"]
    assert record["path"] == path and record["name"] == "file" and not record["from_cache"]
    assert not (tmp_path / "cache").exists()  # a file is read, never copied into the cache
