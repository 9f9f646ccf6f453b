"""MC Dropout scoring throughput: ``al``'s posterior against baal's, side by side in one run.

The same Gal et al. 2017 CNN (``al_cli.models.cnn.GalCNN``; baal gets an identical copy of the
weights), the same pool of random 28x28 inputs, T stochastic passes, the same torch threads.
baal is measured in each of its settings: ``replicate_in_memory=True`` (one pass over the
batch stacked T times, baal's default), ``False`` (T passes), and ``False`` with baal's
``MCCachingModule`` (caches Conv/Linear outputs whose input repeats). Outputs are compared
statistically against a 200-sample reference: each method's T-sample mean prediction should
be as far from it as independent ``al`` runs with other masks are (pure Monte Carlo error),
and the spread across samples should agree.

Needs baal (``pip install baal``), a benchmark-only dependency:

    python scripts/bench_mc_dropout.py --pool 10000 --samples 20 --threads 2
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import time

import torch
from omegaconf import OmegaConf

from al_cli.posteriors import NetworkFactory, network_factory
from al_cli.posteriors.mc_dropout import MCDropout
from al_cli.strategies.scores import mean_std


def al_posterior(factory: NetworkFactory, net: torch.nn.Module, samples: int, seed: int):
    post = MCDropout(factory, samples=samples, consistent_masks=True)
    factory.train = lambda *a, **k: 0.0  # keep the given weights: this measures inference
    factory.build = lambda s: copy.deepcopy(net)
    post.fit(torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.long), seed)
    return post


def run_al(post: MCDropout, pool: torch.Tensor, batch: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat(
            [post.sample_probs(pool[i : i + batch]) for i in range(0, len(pool), batch)], dim=1
        )


def run_baal(wrapper, pool: torch.Tensor, batch: int, samples: int) -> torch.Tensor:
    outs = []
    for i in range(0, len(pool), batch):
        logits = wrapper.predict_on_batch(pool[i : i + batch], iterations=samples)  # [b, C, T]
        outs.append(torch.softmax(logits, dim=1).permute(2, 0, 1))
    return torch.cat(outs, dim=1)


def timed(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pool", type=int, default=10000)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--al-batch", type=int, default=1024, help="al's eval_batch_size")
    ap.add_argument("--baal-batch", type=int, default=64, help="inputs per baal batch")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # rows show up in a redirected log
    torch.set_num_threads(args.threads)

    from baal.bayesian.caching_utils import MCCachingModule
    from baal.bayesian.dropout import MCDropoutModule
    from baal.modelwrapper import ModelWrapper, TrainingArgs

    model_cfg = OmegaConf.create(
        {
            "name": "cnn",
            "_target_": "al_cli.models.cnn.GalCNN",
            "filters": 32,
            "kernel_size": 4,
            "hidden": [128],
            "conv_dropout": 0.25,
            "dropout": 0.5,
        }
    )
    factory = network_factory(model_cfg, None, (1, 28, 28), 10, torch.device("cpu"))
    net = factory.build(0).eval()
    pool = torch.randn(args.pool, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    T = args.samples

    print(
        f"# MC Dropout scoring, Gal CNN, {args.pool} inputs 28x28, T={T}, "
        f"{torch.get_num_threads()} threads, {platform.machine()}, torch {torch.__version__}, "
        f"load {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d %H:%M')}\n"
    )
    results = {}
    post = al_posterior(factory, net, T, seed=1)
    al_name = "al (prefix once, fused masked matmul)"
    before = timed(lambda: run_al(post, pool, args.al_batch), args.repeats)
    for name, replicate, caching in (
        ("baal replicate_in_memory=True", True, False),
        ("baal replicate_in_memory=False", False, False),
        ("baal replicate_in_memory=False + MCCachingModule", False, True),
    ):
        model = MCDropoutModule(copy.deepcopy(net))
        if caching:
            model = MCCachingModule(model)
        wrapper = ModelWrapper(
            model, TrainingArgs(use_cuda=False, replicate_in_memory=replicate, batch_size=1)
        )
        model.eval()
        with torch.random.fork_rng():
            torch.manual_seed(2)
            results[name] = timed(lambda w=wrapper: run_baal(w, pool, args.baal_batch, T), 1)
    after = timed(lambda: run_al(post, pool, args.al_batch), args.repeats)
    # the machine's load may change during the run: al is timed before and after baal, and
    # the slower of the two is reported
    results = {al_name: max(before, after, key=lambda r: r[0]), **results}

    al_seconds, al_probs = results[al_name]
    baal_best = min(v[0] for k, v in results.items() if k.startswith("baal"))
    print("| method | seconds | inputs/s | al speed-up |")
    print("|---|---|---|---|")
    for name, (sec, _) in results.items():
        print(f"| {name} | {sec:.2f} | {args.pool / sec:,.0f} | {sec / al_seconds:.1f}x |")
    print(
        f"\nal timed {before[0]:.2f} s before and {after[0]:.2f} s after baal; "
        f"al vs baal's fastest setting: {baal_best / al_seconds:.1f}x faster\n"
    )

    # statistics: every method's T-sample estimate against a 200-sample al reference
    n_ref = min(1000, args.pool)
    ref = run_al(al_posterior(factory, net, 200, seed=99), pool[:n_ref], 100).double()
    ref_mean = ref.mean(0)
    estimates = {
        f"al, masks seed {s}": run_al(
            al_posterior(factory, net, T, seed=s), pool[:n_ref], args.al_batch
        )
        for s in (3, 4, 5)
    }
    estimates[al_name] = al_probs[:, :n_ref]
    estimates.update({k: v[1][:, :n_ref] for k, v in results.items() if k.startswith("baal")})
    print(
        f"Against the mean of 200 MC Dropout samples on the first {n_ref} inputs: the error of "
        f"each {T}-sample mean prediction, and the spread (mean over classes of the per-class "
        f"standard deviation across samples; reference {float(mean_std(ref).mean()):.5f}).\n"
    )
    print("| estimate | mean abs error of mean probs | mean spread |")
    print("|---|---|---|")
    for name, probs in estimates.items():
        err = float((probs.double().mean(0) - ref_mean).abs().mean())
        print(f"| {name} | {err:.5f} | {float(mean_std(probs.double()).mean()):.5f} |")


if __name__ == "__main__":
    main()
