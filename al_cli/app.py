"""The Hydra task behind ``al run``: compose, check, build, resume or start, loop.

Kept importable on its own: submitit and joblib workers unpickle ``main`` from here and never
run the CLI module, so the schemas (by importing ``al_cli.config``) and the resolvers that name
run folders are registered here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from al_cli import console, progress
from al_cli.cluster import gpus_wanted
from al_cli.config import option_name
from al_cli.data import Oracle, load_dataset, place_inputs
from al_cli.errors import UserError, announce, refuse
from al_cli.files import atomic_write_text, remove_empty
from al_cli.folders import name_max, remove_stale_temporaries, run_folder_lock
from al_cli.learner import Learner
from al_cli.loop import Budget, Experiment, Interrupted, check_resumable, run_rounds
from al_cli.migrate import legacy_twin
from al_cli.posteriors import build_posterior, network_factory
from al_cli.provenance import provenance
from al_cli.results import (
    CHECKPOINT,
    CURVE_COLUMNS,
    Recorder,
    config_difference,
    config_hash,
    identity_config,
    identity_hash,
    load_checkpoint,
    plain,
)
from al_cli.seeding import check_seed, numpy_rng
from al_cli.signals import stop_on_signals
from al_cli.strategies import build_strategy, check_compatible
from al_cli.threads import set_threads
from al_cli.tracking import track
from al_cli.trainer import check_trainer

STRATEGY_SUFFIX = len(f"-{identity_hash({})}")
"""What follows the strategy's name in its folder's name: ``-<al_hash>``."""


def folder_name(group: str, root: DictConfig) -> str:
    """``al_name``: the option's name, refused unless it fits in a folder name on the file
    system of ``paths.results_dir`` (with room for ``-<al_hash>`` after the strategy's)."""
    room = name_max(root.paths.results_dir) - (STRATEGY_SUFFIX if group == "strategy" else 0)
    return option_name(root[group], group, room)


OmegaConf.register_new_resolver("al_hash", lambda *, _root_: config_hash(_root_), replace=True)
OmegaConf.register_new_resolver(
    "al_name", lambda group, *, _root_: folder_name(group, _root_), replace=True
)
OmegaConf.register_new_resolver("al_gpus", gpus_wanted, replace=True)


log = logging.getLogger("al")
"""Every line ``al run`` prints: to the console (Hydra's job logging) and to ``run.log``."""
LOG_FILE = "run.log"
RESULT_FILES = ("learning_curve.csv", "queries.csv")
"""What a run's checkpoint holds as CSV: never deleted while the checkpoint is missing."""


class JobFailed(CompactHydraException):
    """One job of a sweep failed with a UserError; Hydra shows this line after the sweep."""


def set_deterministic(on: bool) -> None:
    """torch's deterministic algorithms; cuBLAS needs its workspace variable before first use."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(on)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, else CPU; an explicit device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise UserError(f"device={name!r} is not a device; use auto, cpu, cuda or mps") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device={name} but CUDA is not available here; use device=auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"device={name} but MPS is not available here; use device=auto or cpu")
    return device


def check_budget(cfg: DictConfig) -> Budget:
    b = Budget(
        initial=cfg.initial,
        initial_balanced=cfg.initial_balanced,
        query_size=cfg.query_size,
        max_labels=cfg.max_labels,
    )
    if b.initial < 1:
        raise UserError(f"budget.initial={b.initial} must be at least 1")
    if b.query_size <= 0:
        raise UserError(f"budget.query_size={b.query_size} must be a positive integer")
    if b.max_labels < b.initial:
        raise UserError(
            f"budget.max_labels={b.max_labels} is below budget.initial={b.initial}; "
            f"raise budget.max_labels or lower budget.initial"
        )
    return b


def check_budget_fits(budget: Budget, pool_size: int) -> None:
    """Refuse a budget the pool cannot meet, rather than run until the pool is spent and call
    that finished: the run would not be the experiment its settings name."""
    for key, value in (("initial", budget.initial), ("max_labels", budget.max_labels)):
        if value > pool_size:
            raise UserError(
                f"budget.{key}={value} is larger than the pool ({pool_size} inputs); set "
                f"budget.{key} to at most {pool_size}"
            )


def option_names(cfg: DictConfig) -> dict[str, str]:
    """The chosen option of each built group, by the name its folders and plots use."""
    return {g: option_name(cfg[g], g) for g in ("dataset", "model", "posterior", "strategy")}


def setup(cfg: DictConfig) -> Experiment:
    """Build a run from its config; raises UserError for a mistake the user can fix."""
    check_settings(cfg)
    names = option_names(cfg)
    budget = check_budget(cfg.budget)
    check_trainer(cfg.trainer)
    device = resolve_device(cfg.device)
    strategy = build_strategy(cfg.strategy)
    split = place_inputs(load_dataset(cfg.dataset), device)
    check_budget_fits(budget, len(split.pool_x))
    factory = network_factory(
        cfg.model, cfg.trainer, split.input_shape, split.num_classes, device, split.augment
    )
    factory.build(0)  # a model config that cannot build fails here, before any file is written
    posterior = build_posterior(cfg.posterior, factory)
    learner = Learner(posterior, device, cfg.trainer.eval_batch_size)
    check_compatible(strategy, posterior.provides, posterior.n_samples, names)
    oracle = Oracle(split.pool_y)
    initial = oracle.draw_initial(
        budget.initial, budget.initial_balanced, numpy_rng(cfg.seed, "initial")
    )
    identity: dict[str, Any] = {
        "dataset": names["dataset"],
        "model": names["model"],
        "strategy": names["strategy"],
        "posterior": names["posterior"],
        "posterior_samples": posterior.n_samples,
        **strategy.describe(),
        "seed": cfg.seed,
    }
    return Experiment(split, oracle, learner, strategy, budget, initial, identity, device)


def check_settings(cfg: DictConfig) -> None:
    """Refuse, before anything is read or written, settings that setup's builders accept but
    that cannot mean what they say."""
    check_seed("seed", cfg.seed)
    candidates = cfg.strategy.get("candidates")
    query_size = cfg.budget.query_size
    if isinstance(candidates, int) and 0 < candidates <= query_size:
        raise UserError(
            f"strategy.candidates={candidates} must exceed budget.query_size={query_size}: the "
            f"batch would take every candidate, a random subset, whatever the strategy scores; "
            f"raise strategy.candidates or set it to null (the whole pool)"
        )


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
        **({"classes": list(exp.split.classes)} if exp.split.classes else {}),
        **provenance(exp.device),
    }
    columns = CURVE_COLUMNS + list(exp.strategy.diagnostics)
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


@contextlib.contextmanager
def log_file(out_dir: Path) -> Iterator[None]:
    """Everything logged to ``al`` also goes to the run's ``run.log``, appended on resume,
    with the warnings logged before it opened (``main`` holds them)."""
    handler = logging.FileHandler(out_dir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    console.replay_held(log, handler)
    quiet = quiet_console(log)
    try:
        yield
    except BaseException as err:  # to the file only: the console gets al run's own last line
        message = str(err) if isinstance(err, UserError) else f"{type(err).__name__}: {err}"
        handler.emit(log.makeRecord("al", logging.ERROR, "", 0, f"al run: {message}", (), None))
        raise
    finally:
        log.removeHandler(handler)
        handler.close()
        quiet.close()


def quiet_console(logger: logging.Logger) -> contextlib.ExitStack:
    """Under ``hydra/job_logging=disabled`` (no console handler, root above INFO, existing
    loggers disabled), let ``logger`` through at INFO for run.log: its lines then reach no
    console. Close the returned stack to undo it."""
    stack = contextlib.ExitStack()
    disabled, level = logger.disabled, logger.level
    if logger.disabled or not logging.getLogger().handlers:
        logger.disabled = False
        logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
        stack.callback(setattr, logger, "disabled", disabled)
        stack.callback(logger.setLevel, level)
    return stack


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


def checkpoint_columns(checkpoint: dict[str, Any]) -> list[str]:
    """The curve columns of a checkpoint's rows: the schema's, then its diagnostics."""
    first = checkpoint["curve"][0] if checkpoint["curve"] else {}
    return CURVE_COLUMNS + [c for c in first if c not in CURVE_COLUMNS]


def run_status(out_dir: Path) -> str | None:
    try:
        return json.loads((out_dir / "run.json").read_text()).get("status")
    except (OSError, ValueError):
        return None


@hydra.main(version_base="1.3", config_path="pkg://al_cli.configs", config_name="config")
def main(cfg: DictConfig) -> None:
    """One run. A UserError is one line and exit 2; in a sweep the job fails alone (the
    others still run) and the sweep exits non-zero after them. A stop exits 128 + signal."""
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    made = made_by_this_run(out_dir)
    with stop_on_signals() as stop:
        try:
            with console.held_warnings(log), run_folder_lock(out_dir):
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
