"""Image data paths side by side: al's tensors held once against torchvision's per-item PIL
datasets, on MNIST-sized IDX files and CIFAR-sized augmentation, written to a temporary folder.

1. One pass over a 60,000-image MNIST pool in batches of 1,024 (what scoring the pool costs
   in data handling each round): al's normalised tensor sliced into batches, against
   ``torchvision.datasets.MNIST`` with ``ToTensor`` + ``Normalize`` through a DataLoader.
2. Augmenting 5,000 CIFAR-sized images (random crop with padding 4, horizontal flip): al's
   batched ``CropFlip`` on tensors, against torchvision's PIL transforms item by item.

    python scripts/image_data.py [--workers 0]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from al_cli.data.images import CropFlip
from al_cli.data.vision import load_torchvision


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path) -> None:
    rng = np.random.default_rng(0)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", 60_000), ("t10k", 10_000)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (torchvision)")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_mnist(root)
        t0 = time.perf_counter()
        pool = load_torchvision("mnist", tmp, False, [0.1307], [0.3081]).pool_x
        t_load = time.perf_counter() - t0

        def al_pass() -> None:
            total = 0.0
            for i in range(0, len(pool), 1024):
                total += float(pool[i : i + 1024].sum())

        tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
        tv = datasets.MNIST(tmp, train=True, transform=tf)

        def tv_pass() -> None:
            total = 0.0
            for x, _ in DataLoader(tv, batch_size=1024, num_workers=args.workers):
                total += float(x.sum())

        t_al, t_tv = timed(al_pass), timed(tv_pass)
        print(f"MNIST files -> al tensors, once:           {t_load:7.3f} s")
        print(f"pool pass, al tensor batches:              {t_al:7.3f} s")
        print(f"pool pass, torchvision PIL items (w={args.workers}):   {t_tv:7.3f} s")
        print(f"  ratio torchvision / al:                  {t_tv / t_al:7.1f}x")

    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5000, 32, 32, 3), dtype=np.uint8)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
    crop_flip = CropFlip(pad=4, flip=True, fill=(0.0, 0.0, 0.0))
    gen = torch.Generator().manual_seed(0)

    def al_aug() -> None:
        for i in range(0, len(x), 128):
            crop_flip(x[i : i + 128], gen)

    pil_tf = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
        ]
    )
    pils = [Image.fromarray(im) for im in images]

    def tv_aug() -> None:
        for im in pils:
            pil_tf(im)

    t_al, t_tv = timed(al_aug), timed(tv_aug)
    print(f"augment 5,000 32x32, al CropFlip batches:  {t_al:7.3f} s")
    print(f"augment 5,000 32x32, torchvision PIL:      {t_tv:7.3f} s")
    print(f"  ratio torchvision / al:                  {t_tv / t_al:7.1f}x")


if __name__ == "__main__":
    main()
