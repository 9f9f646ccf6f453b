"""A short check of al on a CUDA machine (a minute or two): image data held on the GPU,
ResNet-18 with augmentation under bfloat16 autocast, the Gal et al. CNN, seeded repeatability,
and amp against full precision timed side by side; run.json names the GPU and the CUDA and
cuDNN versions. Data are small files in the real on-disk formats, written to a temporary
folder (no download).

    python scripts/gpu_check.py
    python scripts/gpu_check.py --dry-run   # the same steps, tiny, on the CPU: checks the script
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from al_cli.data import Pool  # noqa: E402
from al_cli.seeding import derive_seed  # noqa: E402
from al_cli.setup import setup  # noqa: E402
from tests.conftest import AL, compose_config, read_csv  # noqa: E402
from tests.test_data import write_cifar, write_mnist  # noqa: E402


def al(*args: str) -> subprocess.CompletedProcess:
    out = subprocess.run([AL, *args], capture_output=True, text=True)
    print(out.stdout[-2000:], out.stderr[-2000:], sep="\n")
    assert out.returncode == 0, "al run failed"
    return out


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def fit_seconds(overrides: list[str], labels: int) -> float:
    """Set up as ``al run`` does and time one fit of ``labels`` labels (after a warm-up)."""
    exp = setup(compose_config(*overrides))
    assert exp.split.pool_x.device.type == exp.device.type, "pool inputs should live on the GPU"
    idx = torch.arange(labels)
    pool = Pool(len(exp.split.pool_x))
    pool.add(idx.numpy(), exp.oracle.reveal(idx.numpy()), 0)
    x, y = exp.split.pool_x[idx], pool.revealed_labels()
    exp.learner.fit(x[:64], y[:64], 0)  # warm-up: kernels, allocator
    sync()
    t0 = time.perf_counter()
    exp.learner.fit(x, y, derive_seed(0, "fit", 1))
    probs = exp.learner.predict_proba(exp.split.test_x)
    sync()
    seconds = time.perf_counter() - t0
    acc = float((probs.argmax(1).cpu() == exp.split.test_y).float().mean())
    print(f"   {overrides[-1]}: fit + test predictions {seconds:.2f} s, accuracy {acc:.3f}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dry-run", action="store_true", help="tiny, on the CPU")
    dry = parser.parse_args().dry_run
    if not dry:
        assert torch.cuda.is_available(), "no CUDA device here"
        print(torch.cuda.get_device_name(0), torch.__version__)
    n = 1 if dry else 100  # size factor
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        write_cifar(data, hundred=False, per_batch=10 * n, n_test=10 * n)
        write_mnist(data, "MNIST", n_train=60 * n, n_test=10 * n)
        device = "device=cpu" if dry else "device=auto"
        common = [f"paths.data_dir={data}", "dataset.download=false", device]

        print("1. al run: cifar10, resnet18, augmentation, amp, margin")
        run = Path(tmp) / "cifar"
        budget = [f"budget.initial={n}", f"budget.query_size={n}", f"budget.max_labels={3 * n}"]
        al("run", "dataset=cifar10", "model=resnet18", "dataset.augment=true",
           "trainer.amp=true", "strategy=margin", *budget, "trainer.epochs=5",
           "trainer.min_steps=1", *common, f"hydra.run.dir={run}")  # fmt: skip
        info = json.loads((run / "run.json").read_text())
        assert dry or info["device"].startswith("cuda"), info["device"]
        machine = info["host"]  # run.json's provenance: the GPU and CUDA/cuDNN on a CUDA device
        assert dry or {"gpu", "gpu_memory_gb", "cuda", "cudnn"} <= set(machine), machine
        print("   provenance:", {k: machine.get(k) for k in ("gpu", "cuda", "cudnn", "cpu")})
        curve = read_csv(run / "learning_curve.csv")
        print("   accuracy by round:", [r["test_accuracy"] for r in curve])

        print("2. al run twice: the Gal et al. protocol on MNIST files, same seed")
        args = ["+experiment=gal2017_mnist", "strategy=entropy", "budget.max_labels=40",
                "trainer.epochs=10" if not dry else "trainer.epochs=1", *common]  # fmt: skip
        for name in ("a", "b"):
            al("run", *args, f"hydra.run.dir={Path(tmp) / name}")
        a, b = (read_csv(Path(tmp) / n / "queries.csv") for n in ("a", "b"))
        print("   identical queries on GPU:", a == b)

        print("3. one fit, resnet18 + augmentation, amp off and on (same card)")
        base = [
            "dataset=cifar10",
            "model=resnet18",
            "dataset.augment=true",
            *common,
            "trainer.epochs=10" if not dry else "trainer.epochs=1",
            "trainer.min_steps=1",
        ]
        off = fit_seconds([*base, "trainer.amp=false"], 5 * n)
        on = fit_seconds([*base, "trainer.amp=true"], 5 * n)
        print(f"   amp speed-up: {off / on:.2f}x")


if __name__ == "__main__":
    main()
