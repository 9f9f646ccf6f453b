"""What the launching ``al run`` process does before any job starts, and each job as it starts.

:class:`LaunchHooks` is a Hydra callback named in configs/config.yaml. Kept light (no torch):
it runs in the launching process of every run and sweep.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from al_cli.errors import UserError, refuse
from al_cli.provenance import COMMAND_VARIABLE, typed_command


def remove_literal_job_folder(config: DictConfig) -> None:
    """submitit's local executor makes its ``submitit_folder`` with the ``%j`` left in
    (``.submitit/%j``) before each job starts, beside the job's own ``.submitit/<id>``: remove
    that empty, literally named folder."""
    folder = OmegaConf.select(config, "hydra.launcher.submitit_folder", default=None)
    if not folder or "%" not in str(folder):
        return
    literal = Path(str(folder))
    try:
        if literal.is_dir() and not any(literal.iterdir()):
            literal.rmdir()
    except OSError:  # another job removed it first, or it is not ours to remove
        pass


class LaunchHooks(Callback):
    """In the launching process: keep the command line for the jobs' run.json, and check the
    chosen trackers' packages; for a sweep, also create MLflow's store and experiment before
    any job starts, so parallel jobs never race to create them. In each job: tidy submitit's
    literal ``%j`` folder. A problem is one line and exit 2, before anything is written."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.launching(config, sweep=False)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.launching(config, sweep=True)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        remove_literal_job_folder(config)

    @staticmethod
    def launching(config: DictConfig, sweep: bool) -> None:
        from al_cli import tracking

        os.environ[COMMAND_VARIABLE] = typed_command(sys.argv)
        try:
            if sweep:
                tracking.prepare_trackers(config)
            else:  # a single run creates its store itself, once accepted
                tracking.check_trackers(config)
        except UserError as err:
            # outside any task function: Hydra would print a traceback for an exception
            refuse("al run", err)
