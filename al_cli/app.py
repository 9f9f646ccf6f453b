"""The Hydra task behind ``al run``: one run in the folder Hydra named, a refusal as one line
and exit status 2, a stop as exit status 128 + the signal.

Only ``cli.py`` imports this module. It stays importable on its own: submitit and joblib
workers unpickle ``main`` from here and never run the CLI module, so importing it registers the
schemas and the resolvers that name run folders (``al_cli.resolvers``). Hydra names the job
after this file (``hydra.job.name``: ``app``).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode
from omegaconf import DictConfig

import al_cli.resolvers  # noqa: F401  (the schemas, and the resolvers that name run folders)
from al_cli.console import held_warnings, log
from al_cli.errors import UserError, announce, refuse
from al_cli.experiment import run_experiment
from al_cli.files import remove_empty
from al_cli.folders import run_folder_lock
from al_cli.loop import Interrupted
from al_cli.run_folder import after_stop, made_by_this_run
from al_cli.signals import stop_on_signals


class JobFailed(CompactHydraException):
    """One job of a sweep failed with a UserError; Hydra shows this line after the sweep."""


@hydra.main(version_base="1.3", config_path="pkg://al_cli.configs", config_name="config")
def main(cfg: DictConfig) -> None:
    """One run. A UserError is one line and exit 2; in a sweep the job fails alone (the
    others still run) and the sweep exits non-zero after them. A stop exits 128 + signal."""
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    made = made_by_this_run(out_dir)
    with stop_on_signals() as stop:
        try:
            with held_warnings(log), run_folder_lock(out_dir):
                run_experiment(cfg, out_dir, stop)
        except UserError as err:
            remove_empty(made)
            if hydra_cfg.mode == RunMode.MULTIRUN:
                raise JobFailed(announce("al run", err)) from None
            refuse("al run", err)
        except (Interrupted, KeyboardInterrupt):
            remove_empty(made)
            print(f"al run: stopped; {after_stop(cfg, out_dir)}", file=sys.stderr, flush=True)
            sys.exit(128 + (stop() or signal.SIGINT))
