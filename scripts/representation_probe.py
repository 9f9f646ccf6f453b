"""Are the SimCLR features useful? kNN (k=20) and linear-probe accuracy of pool -> test on
``representation=simclr`` against PCA of the raw pixels at the same width (whitened, as
``representation=pca`` gives it, and not), all fitted on the pool alone.

    nice -n 15 python scripts/representation_probe.py dataset=npz \\
        dataset.path=/work/shared/data/mnist_5k.npz representation.epochs=100

Overrides are al run's (``dataset=...``, ``representation.*``); the SimCLR features go
through the real cache (``paths.cache_dir``, default ``data/cache``), so a second call with the
same settings reads them instead of training again. Prints one table, and the time the
encoder took to train, wall and CPU (the CPU seconds do not depend on what else runs).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from hydra import compose, initialize_config_module
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

import al_cli.config  # noqa: F401  (registers the schemas)
from al_cli.data import load_dataset
from al_cli.representations import build_representation, load_features


def scores(pool: np.ndarray, test: np.ndarray, y_pool: np.ndarray, y_test: np.ndarray) -> str:
    """kNN (euclidean, cosine) and a logistic-regression probe on standardised features."""
    out = []
    for metric in ("euclidean", "cosine"):
        knn = KNeighborsClassifier(20, metric=metric).fit(pool, y_pool)
        out.append(knn.score(test, y_test))
    scaler = StandardScaler().fit(pool)
    probe = LogisticRegression(max_iter=2000, C=1.0).fit(scaler.transform(pool), y_pool)
    out.append(probe.score(scaler.transform(test), y_test))
    return " | ".join(f"{a:.4f}" for a in out)


def main(overrides: list[str]) -> None:
    with initialize_config_module(config_module="al_cli.configs", version_base="1.3"):
        cfg = compose("config", overrides=["representation=simclr", *overrides])
    split = load_dataset(cfg.dataset)
    representation = build_representation(cfg.representation)
    t0, cpu0 = time.perf_counter(), time.process_time()
    features, record = load_features(representation, cfg, split, torch.device("cpu"))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    dim = features.pool.shape[1]
    y_pool, y_test = split.pool_y.numpy(), split.test_y.numpy()
    raw_pool = split.pool_x.reshape(len(split.pool_x), -1).numpy()
    raw_test = split.test_x.reshape(len(split.test_x), -1).numpy()
    rows = [("simclr", features.pool.numpy(), features.test.numpy())]
    for whiten in (True, False):
        pca = PCA(dim, whiten=whiten, svd_solver="full").fit(raw_pool)
        name = f"pca {'whitened' if whiten else 'unwhitened'}"
        rows.append((name, pca.transform(raw_pool), pca.transform(raw_test)))
    rows.append(("raw pixels", raw_pool, raw_test))
    print(f"data {split.name}: {len(raw_pool)} pool, {len(raw_test)} test; width {dim}")
    print(f"simclr {dict(cfg.representation)}")
    print(
        f"simclr computed in {seconds:.0f} s wall, {cpu:.0f} s CPU on {torch.get_num_threads()} "
        f"threads (from cache: {record['from_cache']})"
    )
    print("| features | kNN k=20 euclidean | kNN k=20 cosine | linear probe |")
    print("|---|---|---|---|")
    for name, pool, test in rows:
        print(f"| {name} | {scores(pool, test, y_pool, y_test)} |")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main(sys.argv[1:])
