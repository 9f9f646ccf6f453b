"""Running sweeps on SLURM: what a job asks for, and settings refused before submission.

Kept light (no torch): :class:`LauncherCheck`, a Hydra callback named in configs/config.yaml,
runs in the launching process of every sweep, before anything is written or submitted.
"""

from __future__ import annotations

from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from al_cli.errors import refuse


def gpus_wanted(device: str) -> int | None:
    """GPUs a cluster job asks for: one for ``device=cuda`` (or ``cuda:N``), else none.

    ``device=auto`` asks for none, so a sweep fits a CPU-only cluster; it still runs on a GPU
    that a node hands out anyway. None leaves the flag out of the job script (``--gpus-per-node=0``
    is itself a GPU request that a cluster without GPUs may refuse)."""
    return 1 if str(device).split(":")[0] == "cuda" else None


def launcher_error(launcher: DictConfig) -> str | None:
    """What is wrong with submitit's launcher settings (``hydra.launcher``), in one sentence,
    or None. Other launchers have neither key and pass."""
    timeout_min = OmegaConf.select(launcher, "timeout_min", default=None)
    delay = OmegaConf.select(launcher, "signal_delay_s", default=None)
    if timeout_min is not None and timeout_min < 1:
        return f"hydra.launcher.timeout_min={timeout_min} must be at least 1 (minutes)"
    if delay is not None and delay < 0:
        return f"hydra.launcher.signal_delay_s={delay} must be at least 0 (seconds)"
    if timeout_min is not None and delay is not None and 2 * delay > 60 * timeout_min:
        return (
            f"hydra.launcher.signal_delay_s={delay} is more than half of "
            f"hydra.launcher.timeout_min={timeout_min} ({60 * timeout_min} s): every job would be "
            f"signalled and requeued early in its run; lower signal_delay_s to at most "
            f"{30 * timeout_min} or raise timeout_min"
        )
    return None


class LauncherCheck(Callback):
    """Refuses wrong launcher settings in one line (exit 2) when a sweep starts: in the
    launching process, before the sweep folder is made and before any job is submitted."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        error = launcher_error(config.hydra.launcher)
        if error is not None:
            # outside any task function, so not a UserError: Hydra would print a traceback
            refuse("al run", error)
