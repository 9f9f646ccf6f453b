"""One run from its config, in its folder: skip it when finished, resume it when started,
else start it; then its rounds, each recorded, and run.json saying how they ended.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from al_cli import progress
from al_cli.console import log, log_file
from al_cli.data import load_dataset
from al_cli.errors import UserError
from al_cli.files import VALIDATION_COLUMNS
from al_cli.folders import remove_stale_temporaries
from al_cli.loop import Experiment, Interrupted, run_rounds
from al_cli.provenance import provenance
from al_cli.results import CURVE_COLUMNS, Recorder, identity_config, identity_hash
from al_cli.run_folder import check_same_data, previous_run, repair_finished, save_hydra_record
from al_cli.setup import set_deterministic, setup
from al_cli.threads import set_threads
from al_cli.tracking import track


def run_experiment(
    cfg: DictConfig, out_dir: Path, stop_requested: Callable[[], int | None] = lambda: None
) -> None:
    """Skip a finished run, resume an unfinished one, or start; record every round."""
    set_deterministic(cfg.deterministic)
    set_threads(cfg.threads)
    settings = identity_config(cfg)
    checkpoint = previous_run(cfg, out_dir, settings)
    config = OmegaConf.to_container(cfg, resolve=True)
    if checkpoint is not None and checkpoint["finished"]:
        if "data_fingerprint" in checkpoint:
            check_same_data(checkpoint, load_dataset(cfg.dataset).fingerprint, out_dir)
        remove_stale_temporaries(out_dir)
        log.info(f"al run: already finished, skipped: {out_dir} (resume=false runs it again)")
        repair_finished(out_dir, checkpoint, config, settings)
        return
    exp = setup(cfg)
    if checkpoint is not None:
        check_same_data(checkpoint, exp.split.fingerprint, out_dir)
    remove_stale_temporaries(out_dir)
    extra = {
        "config_hash": identity_hash(settings),
        "device": str(exp.device),
        "torch_threads": torch.get_num_threads(),
        "data_fingerprint": exp.split.fingerprint,
        **({"representation": exp.representation} if exp.representation else {}),
        **({"classes": list(exp.split.classes)} if exp.split.classes else {}),
        **provenance(exp.device),
    }
    columns = curve_columns(exp)
    recorder = Recorder(out_dir, config, extra, settings, columns, exp.split.fingerprint)
    if checkpoint is not None:
        recorder.restore(checkpoint)
    track(cfg, recorder, exp.identity)
    recorder.start()
    save_hydra_record(out_dir, cfg)
    with log_file(out_dir), progress.lines_above_bars():
        if checkpoint is not None:
            log.info(f"al run: resuming {out_dir} at round {checkpoint['next_round']}")
        log.info(f"al run: {exp.identity['strategy']} on {exp.identity['dataset']} -> {out_dir}")
        run_recorded(cfg, exp, recorder, checkpoint, stop_requested)


def curve_columns(exp: Experiment) -> list[str]:
    """learning_curve.csv's columns: the schema's, the validation set's where there is one,
    then the strategy's diagnostics."""
    validation = VALIDATION_COLUMNS if exp.split.val_x is not None else []
    return CURVE_COLUMNS + validation + list(exp.strategy.diagnostics)


def run_recorded(
    cfg: DictConfig,
    exp: Experiment,
    recorder: Recorder,
    checkpoint: dict[str, Any] | None,
    stop_requested: Callable[[], int | None],
) -> None:
    """The rounds, with run.json saying how they ended."""
    try:
        run_rounds(
            exp,
            cfg.seed,
            recorder,
            resume=checkpoint,
            keep_model=bool(cfg.trainer.warm_start),
            stop_requested=lambda: stop_requested() is not None,
        )
    except (Interrupted, KeyboardInterrupt, SystemExit):
        # SystemExit: submitit's handler exits after requeueing a preempted or timed-out job
        recorder.finish("interrupted")
        raise
    except BaseException as err:
        message = str(err) if isinstance(err, UserError) else f"{type(err).__name__}: {err}"
        recorder.finish("failed", message)
        raise
    recorder.finish("finished")
    final = recorder.curve[-1]
    log.info(
        f"al run: finished {len(recorder.curve)} rounds, {final['n_labeled']} labels, "
        f"test accuracy {final['test_accuracy']:.4f}; results in {recorder.out_dir}"
    )
