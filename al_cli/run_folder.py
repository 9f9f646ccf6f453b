"""What a run folder already holds, and what a run leaves in it: the checkpoint a run skips
or resumes from (refused when it belongs to other settings or data), the files a finished run
rewrites when they are lost, Hydra's record, and what a refused or stopped run leaves behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from al_cli.config import option_name
from al_cli.console import log
from al_cli.errors import UserError
from al_cli.files import atomic_write_text
from al_cli.loop import check_resumable
from al_cli.migrate import legacy_twin
from al_cli.results import (
    CHECKPOINT,
    CURVE_COLUMNS,
    Recorder,
    config_difference,
    identity_hash,
    load_checkpoint,
    plain,
)

RESULT_FILES = ("learning_curve.csv", "queries.csv")
"""What a run's checkpoint holds as CSV: never deleted while the checkpoint is missing."""


def previous_run(cfg: DictConfig, out_dir: Path, settings: dict[str, Any]) -> dict | None:
    """The checkpoint this run continues from; refuses one written by another config, one it
    cannot resume from (said before anything else), and a folder whose results have lost
    their checkpoint (they are never computed over)."""
    if not cfg.resume:
        return None
    checkpoint = load_checkpoint(out_dir / CHECKPOINT)
    if checkpoint is None:
        twin = legacy_twin(out_dir, plain(settings))
        if twin is not None:
            raise UserError(
                f"an earlier version of al made this run in {twin}; run 'al migrate "
                f"{out_dir.parent.parent.parent.parent}' to move it where this version looks "
                f"(it is then skipped or resumed), or rerun with resume=false to start afresh"
            )
        results = [name for name in RESULT_FILES if (out_dir / name).exists()]
        if results:
            raise UserError(
                f"the run folder {out_dir} holds {' and '.join(results)} but no {CHECKPOINT}, "
                f"so this run can be neither skipped nor resumed; restore {CHECKPOINT}, move the "
                f"folder away, or rerun with resume=false to compute it again over those files"
            )
        return None
    diff = config_difference(checkpoint["identity"], plain(settings))
    if diff is not None:
        raise UserError(
            f"the run folder {out_dir} holds the checkpoint of another config ({diff}); "
            f"choose another folder (hydra.run.dir) or rerun with resume=false to start over there"
        )
    if not checkpoint["finished"]:
        posterior = option_name(cfg.posterior, "posterior")
        check_resumable(checkpoint, bool(cfg.trainer.warm_start), posterior)
    return checkpoint


def check_same_data(checkpoint: dict[str, Any], fingerprint: str, out_dir: Path) -> None:
    """Refuse to resume or skip a run whose data changed since its checkpoint was written
    (checkpoints of versions before the fingerprint have none and are not compared)."""
    saved = checkpoint.get("data_fingerprint")
    if saved is not None and saved != fingerprint:
        done = "finished" if checkpoint["finished"] else "started"
        raise UserError(
            f"the data differ from those the run in {out_dir} {done} with (data fingerprint "
            f"{fingerprint} here, {saved} there): a data file changed; restore it, or rerun "
            f"with resume=false to compute this run again over the new data"
        )


def repair_finished(
    out_dir: Path, checkpoint: dict[str, Any], config: dict[str, Any], settings: dict[str, Any]
) -> None:
    """Rewrite from its checkpoint what a finished run's folder lacks: a CSV that is missing,
    or run.json when the run stopped between its last two writes."""
    missing = [name for name in RESULT_FILES if not (out_dir / name).exists()]
    status = run_status(out_dir)
    if not missing and status == "finished":
        return
    extra = {"config_hash": identity_hash(settings)}
    if "data_fingerprint" in checkpoint:
        extra["data_fingerprint"] = checkpoint["data_fingerprint"]
    recorder = Recorder(out_dir, config, extra, settings, checkpoint_columns(checkpoint))
    recorder.restore(checkpoint)
    if status == "finished":
        recorder.write_csvs()
    else:
        recorder.start()
        recorder.finish("finished")
    if missing:
        log.info(f"al run: rewrote {' and '.join(missing)} from the checkpoint")


def checkpoint_columns(checkpoint: dict[str, Any]) -> list[str]:
    """The curve columns of a checkpoint's rows: the schema's, then its diagnostics."""
    first = checkpoint["curve"][0] if checkpoint["curve"] else {}
    return CURVE_COLUMNS + [c for c in first if c not in CURVE_COLUMNS]


def run_status(out_dir: Path) -> str | None:
    """The status run.json records (``finished``, ``running``, ...), or None without one."""
    try:
        return json.loads((out_dir / "run.json").read_text()).get("status")
    except (OSError, ValueError):
        return None


def save_hydra_record(out_dir: Path, cfg: DictConfig) -> None:
    """Hydra's record of the run in ``.hydra/`` (config, hydra, overrides), written by al once
    the run is accepted: a refused run leaves the folder as it was (``hydra.output_subdir`` is
    null, so Hydra writes nothing there itself)."""
    hydra_cfg = HydraConfig.get()
    record = out_dir / ".hydra"
    record.mkdir(parents=True, exist_ok=True)
    files = {
        "config.yaml": cfg,
        "hydra.yaml": OmegaConf.create({"hydra": hydra_cfg}),
        "overrides.yaml": hydra_cfg.overrides.task,
    }
    for name, node in files.items():
        atomic_write_text(record / name, OmegaConf.to_yaml(node))


def made_by_this_run(out_dir: Path) -> list[Path]:
    """The empty run folder Hydra made for this job, and each parent that holds nothing but
    it: what a refused run removes (``remove_empty``: those it wrote nothing into), so that it
    leaves no folder behind."""
    made: list[Path] = []
    folder, child = out_dir, None
    while folder != folder.parent and folder != Path.cwd():
        try:
            entries = list(folder.iterdir())
        except OSError:
            break
        if entries != ([child] if child else []):
            break
        made.append(folder)
        folder, child = folder.parent, folder
    return made


def after_stop(cfg: DictConfig, out_dir: Path) -> str:
    """What a stopped run leaves, and whether rerunning the command resumes it: a warm-started
    run whose posterior cannot save its networks (MC Dropout, BNN) cannot resume."""
    try:
        checkpoint = load_checkpoint(out_dir / CHECKPOINT)
    except UserError:
        checkpoint = None
    if checkpoint is None:
        return "no round was completed. Rerun the same command to start it again."
    if cfg.trainer.warm_start and checkpoint.get("posterior") is None:
        return (
            f"its completed rounds are saved in {out_dir}, but this warm-started run cannot "
            f"resume: posterior={option_name(cfg.posterior, 'posterior')} cannot save its "
            f"networks. Rerun with resume=false to start it over."
        )
    return f"every completed round is saved in {out_dir}. Rerun the same command to resume."
