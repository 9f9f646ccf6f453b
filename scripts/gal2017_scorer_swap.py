"""The peer script's Gal et al. loop with only the BALD scorer swapped: which part of a gap in
labels is the scoring. Everything else is the script's own (``train``, the 80/20 split, the
balanced initial labels, the 2,000 candidates, the seeds), so on one seed every line starts
from the same network.

  --scorer baal            the script's: baal's MC dropout (per-input masks) and BALD
  --scorer al_consistent   al's MCDropout sampling, T masks shared by every candidate, al's bald
  --scorer al_independent  the same with masks drawn per input (posterior.consistent_masks=false)

Runs in the peer's virtual environment (baal installed, al_cli importable: a venv made with
--system-site-packages where al is installed), one torch thread; appends one CSV row per round
(scorer_T, seed, n_labeled, test_accuracy, seconds). Results: docs/benchmarks/gal2017_mnist.md.

  python scripts/gal2017_scorer_swap.py ../shared/data/mnist_5k.npz OUT.csv \
      --scorer al_independent --seeds 0 1 2 --peer ../shared/peers/baal_gal_mnist.py
"""

import argparse
import csv
import importlib.util
import time

import numpy as np
import torch
from torch import nn

from al_cli.posteriors.mc_dropout import MCDropout
from al_cli.seeding import torch_generator
from al_cli.strategies.scores import bald


def load_peer(path: str):
    """The peer script as a module (it imports baal)."""
    spec = importlib.util.spec_from_file_location("peer_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def al_probs(m: nn.Module, x: torch.Tensor, T: int, consistent: bool, seed: int) -> torch.Tensor:
    """``[T, N, C]`` from al's MCDropout on the script's network (full passes, its mask hooks)."""
    p = MCDropout.__new__(MCDropout)  # no factory: the network is the script's, already trained
    p.samples, p.consistent, p.net, p.sample_index = T, consistent, m, None
    p.dropouts = [d for d in m.modules() if type(d) is nn.Dropout]
    p.index = {id(d): k for k, d in enumerate(p.dropouts)}
    p.plan, p.fast, p.mask_seed, p.masks, p.fused = None, False, seed, {}, {}
    p.gen = torch_generator(seed, "fresh")
    hs = [d.register_forward_hook(p._hook) for d in p.dropouts]
    m.eval()
    out = torch.cat([p.sample_probs(x[i : i + 500]) for i in range(0, len(x), 500)], dim=1)
    for h in hs:
        h.remove()
    return out  # [T, N, C]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("npz")
    ap.add_argument("out")
    ap.add_argument("--scorer", choices=["baal", "al_consistent", "al_independent"], required=True)
    ap.add_argument("--T", type=int, default=20)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--max-labels", type=int, default=300)
    ap.add_argument("--peer", default="../shared/peers/baal_gal_mnist.py")
    a = ap.parse_args()
    peer = load_peer(a.peer)
    torch.set_num_threads(1)  # after the script's own set_num_threads(2): one thread, as measured
    heur_bald = peer.BALD()
    d = np.load(a.npz)
    X = (torch.tensor(d["x"], dtype=torch.float32).unsqueeze(1) / 255.0 - 0.1307) / 0.3081
    Y = torch.tensor(d["y"], dtype=torch.long)
    with open(a.out, "a", newline="") as f:
        w = csv.writer(f)
        for s in a.seeds:
            rng = np.random.default_rng(s)
            perm = rng.permutation(len(X))
            cut = int(0.8 * len(X))
            pool, test = perm[:cut], perm[cut:]
            lab = np.concatenate(
                [rng.choice(pool[Y[pool].numpy() == c], 2, replace=False) for c in range(10)]
            )
            labeled = list(lab)
            rs = np.random.default_rng(1000 + s)
            while True:
                t = time.perf_counter()
                m = peer.train(X[labeled], Y[labeled], seed=s * 7919 + len(labeled))
                m.eval()
                with torch.no_grad():
                    acc = float((m(X[test]).argmax(1) == Y[test]).float().mean())
                w.writerow(
                    [
                        a.scorer + f"_T{a.T}",
                        s,
                        len(labeled),
                        f"{acc:.4f}",
                        f"{time.perf_counter() - t:.2f}",
                    ]
                )
                f.flush()
                if len(labeled) >= a.max_labels:
                    break
                unl = np.setdiff1d(pool, labeled)
                cand = rs.choice(unl, 2000, replace=False)
                if a.scorer == "baal":
                    ranks = heur_bald(peer.mc_probs(m, X[cand], a.T))
                else:
                    with torch.no_grad():
                        probs = al_probs(
                            m, X[cand], a.T, a.scorer == "al_consistent", s * 100003 + len(labeled)
                        )
                    ranks = torch.argsort(bald(probs), descending=True).numpy()
                labeled += list(cand[ranks[:10]])


if __name__ == "__main__":
    main()
