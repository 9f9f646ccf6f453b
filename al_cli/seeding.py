"""Every random choice flows from ``seed`` through generators derived here.

Seeds are derived from (seed, round, purpose), so any round can be replayed without saved RNG
state. torch's dropout and default initialisers draw from the global generator and take none
of their own, so code that builds or trains networks runs inside ``seeded``: a forked global
generator, seeded, and restored afterwards.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

import numpy as np
import torch

from al_cli.errors import UserError

MAX_SEED = 2**32 - 1
"""The largest seed: ``derive_seed`` gives the seed one 32-bit word of entropy, ahead of the
keys' words, so a larger one would spill into them (``2**32 * 5 + 7`` with key 1 draws what 7
with keys 5, 1 draws); numpy's and scikit-learn's own seeds are 32-bit too."""


def check_seed(key: str, value: int) -> None:
    """Refuse a seed outside ``0..MAX_SEED`` in one line naming ``key``."""
    if not 0 <= value <= MAX_SEED:
        raise UserError(f"{key}={value} must lie in 0..{MAX_SEED}; choose a seed in that range")


def derive_seed(seed: int, *keys: int | str) -> int:
    """A 63-bit seed for one purpose, stable across runs and platforms."""
    words = [int(seed)] + [k if isinstance(k, int) else zlib.crc32(k.encode()) for k in keys]
    return (
        int(np.random.SeedSequence(words).generate_state(2, dtype=np.uint32).view(np.uint64)[0])
        >> 1
    )


def numpy_rng(seed: int, *keys: int | str) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, *keys))


def torch_generator(
    seed: int, *keys: int | str, device: str | torch.device = "cpu"
) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, *keys))
    return gen


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the body with torch's global generator(s) forked and set to ``seed``."""
    device = torch.device(device)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type="cuda"):
        torch.manual_seed(seed)
        yield
