"""The pool/test splits of the peer script (../shared/peers/baal_gal_mnist.py), as npz files
that `al run dataset=npz` reads with their test part as given (x_test/y_test), so that `al` and
the peer train and test on the same digits, seed by seed.

    python scripts/peer_splits.py ../shared/data/mnist_5k.npz OUT_DIR [--seeds 0 1 2 3 4 5]

Writes OUT_DIR/peer_split_seed{S}.npz: x, y the peer's pool (the first 80% of
``np.random.default_rng(S).permutation(N)``), x_test, y_test its test part (the rest).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def peer_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pool and test indices as the peer script draws them for ``seed``."""
    perm = np.random.default_rng(seed).permutation(n)
    cut = int(0.8 * n)
    return perm[:cut], perm[cut:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("npz", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4, 5])
    a = ap.parse_args()
    data = np.load(a.npz)
    x, y = data["x"], data["y"]
    a.out.mkdir(parents=True, exist_ok=True)
    for seed in a.seeds:
        pool, test = peer_split(len(x), seed)
        path = a.out / f"peer_split_seed{seed}.npz"
        tmp = path.with_suffix(".tmp.npz")  # atomic: a run starting beside this never reads half
        np.savez_compressed(tmp, x=x[pool], y=y[pool], x_test=x[test], y_test=y[test])
        tmp.replace(path)
        print(path)


if __name__ == "__main__":
    main()
