"""Runs that survive: kill and resume, clean stops, skipped finished runs, refused mixes, and
failures that name their cause and lose nothing."""

from __future__ import annotations

import errno
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch

import al_cli.resolvers  # noqa: F401  (registers the folder-name resolvers)
from al_cli.errors import UserError
from al_cli.experiment import curve_columns
from al_cli.loop import Interrupted, OutOfMemory, check_resumable, round_error, run_rounds
from al_cli.results import (
    CHECKPOINT,
    Recorder,
    ResultsNotWritable,
    config_difference,
    config_hash,
    identity_config,
    load_checkpoint,
)
from al_cli.run_folder import previous_run
from al_cli.setup import setup
from al_cli.trainer import TrainingDiverged
from tests.conftest import (
    FAST,
    assert_same_results,
    compose_config,
    one_line_error,
    read_csv,
    rows_in,
    run_al,
    run_info,
    start_al,
    wait_for_rows,
)

# Six rounds: enough to stop a run in the middle of it.
LONG = [*FAST, "budget.max_labels=60", "trainer.min_steps=60", "strategy=entropy"]
ROUNDS = 6


def only_run_folder(results: Path) -> Path:
    folders = [p.parent for p in results.rglob(CHECKPOINT)]
    assert len(folders) == 1, folders
    return folders[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run in its default (content-named) folder."""
    results = tmp_path_factory.mktemp("reference")
    out = run_al("run", *LONG, f"paths.results_dir={results}")
    assert out.returncode == 0, out.stderr
    folder = only_run_folder(results)
    assert len(read_csv(folder / "learning_curve.csv")) == ROUNDS
    return folder


def test_default_folder_is_named_by_content(reference: Path):
    cfg = compose_config(*LONG)
    assert reference.name == "seed0"
    assert reference.parent.name == f"entropy-{config_hash(cfg)}"
    assert reference.parent.parent.name == "mlp"
    assert reference.parent.parent.parent.name == "synthetic"


def test_sigkill_then_rerun_equals_uninterrupted(tmp_path: Path, reference: Path):
    args = ("run", *LONG, f"paths.results_dir={tmp_path}")
    proc = start_al(*args)
    curve = tmp_path / reference.relative_to(reference.parents[3]) / "learning_curve.csv"
    wait_for_rows(proc, curve, 2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert 2 <= rows_in(curve) < ROUNDS, "the run ended before it could be killed"
    out = run_al(*args)
    assert out.returncode == 0, out.stderr
    assert "resuming" in out.stdout
    assert_same_results(curve.parent, reference)
    assert run_info(curve.parent)["status"] == "finished"


def test_finished_run_is_skipped(reference: Path):
    before = (reference / "learning_curve.csv").read_bytes()
    out = run_al("run", *LONG, f"paths.results_dir={reference.parents[3]}")
    assert out.returncode == 0, out.stderr
    assert "already finished" in out.stdout and "round" not in out.stdout
    assert (reference / "learning_curve.csv").read_bytes() == before


def test_checkpoint_of_another_config_is_refused(reference: Path):
    before = {p.name: p.read_bytes() for p in reference.iterdir() if p.is_file()}
    out = run_al("run", *LONG, "trainer.lr=0.01", f"hydra.run.dir={reference}")
    one_line_error(out, "trainer.lr", "another config")
    after = {p.name: p.read_bytes() for p in reference.iterdir() if p.is_file()}
    assert {k: v for k, v in after.items() if k != "app.log"} == {
        k: v for k, v in before.items() if k != "app.log"
    }


def test_sigterm_stops_cleanly_then_resumes(tmp_path: Path, reference: Path):
    args = ("run", *LONG, f"hydra.run.dir={tmp_path}")
    proc = start_al(*args)
    wait_for_rows(proc, tmp_path / "learning_curve.csv", 1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "Rerun the same command to resume" in stderr and "Traceback" not in stderr
    assert run_info(tmp_path)["status"] == "interrupted"
    checkpoint = load_checkpoint(tmp_path / CHECKPOINT)
    assert checkpoint["next_round"] == rows_in(tmp_path / "learning_curve.csv") < ROUNDS
    out = run_al(*args)
    assert out.returncode == 0, out.stderr
    assert_same_results(tmp_path, reference)


# ---- unit level -------------------------------------------------------------------------------


def test_hash_covers_results_settings_only():
    base = config_hash(compose_config(*FAST))
    assert config_hash(compose_config(*FAST, "trainer.lr=0.01")) != base
    assert config_hash(compose_config(*FAST, "budget.query_size=5")) != base
    assert config_hash(compose_config(*FAST, "strategy=margin")) != base
    for same in ("paths.results_dir=elsewhere", "resume=false", "deterministic=true", "seed=4"):
        assert config_hash(compose_config(*FAST, same)) == base, same


def test_folder_names_follow_config():
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="al_cli.configs", version_base="1.3"):
        a = compose("config", overrides=FAST, return_hydra_config=True)
        b = compose("config", overrides=[*FAST, "trainer.lr=0.01"], return_hydra_config=True)
        c = compose("config", overrides=[*FAST, "seed=3"], return_hydra_config=True)
    run_a, run_b, run_c = (str(x.hydra.run.dir) for x in (a, b, c))
    assert run_a != run_b and run_a.endswith("/seed0") and run_c.endswith("/seed3")
    assert run_a.removesuffix("seed0") == run_c.removesuffix("seed3")
    assert run_a == f"{a.hydra.sweep.dir}/{a.hydra.sweep.subdir}"


def test_slurm_launcher_defaults():
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="al_cli.configs", version_base="1.3"):
        cpu = compose("config", ["hydra/launcher=slurm"], return_hydra_config=True)
        gpu = compose("config", ["hydra/launcher=slurm", "device=cuda"], return_hydra_config=True)
    assert cpu.hydra.launcher._target_.endswith("SlurmLauncher")
    # device=auto asks for no GPU (tests/test_slurm.py has the CLI test)
    assert cpu.hydra.launcher.gpus_per_node is None and gpu.hydra.launcher.gpus_per_node == 1
    assert gpu.hydra.launcher.signal_delay_s > 0 and gpu.hydra.launcher.max_num_timeout > 0
    assert gpu.hydra.launcher.timeout_min >= 60 and gpu.hydra.launcher.array_parallelism > 0


def test_config_difference_names_the_setting():
    a = {"trainer": {"lr": 0.001, "epochs": 5}, "seed": 0}
    assert config_difference(a, a) is None
    b = {"trainer": {"lr": 0.01, "epochs": 5}, "seed": 0}
    assert config_difference(a, b) == "trainer.lr is 0.001 there and 0.01 here"
    assert "trainer.amp" in config_difference(a, {**b, "trainer": {**a["trainer"], "amp": 1}})


def test_full_disk_loses_nothing(tmp_path: Path, monkeypatch):
    rec = Recorder(tmp_path, {"a": 1}, {}, {"a": 1})
    rec.start()
    state = {"finished": False, "labeled": [1], "labels": [0], "rounds": [0]}
    rec.record(
        {"round": 0}, [{"round": 0, "pool_index": 1, "label": 0}], {"next_round": 1, **state}
    )
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ResultsNotWritable, match="No space left on device.*rerun the same"):
        rec.record({"round": 1}, [], {"next_round": 2, **state})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp files
    assert load_checkpoint(tmp_path / CHECKPOINT)["next_round"] == 1


def test_unwritable_folder_is_a_clear_error(tmp_path: Path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ResultsNotWritable, match="cannot write the run folder"):
        Recorder(tmp_path / "file" / "run", {}, {}).start()


def test_round_errors_are_clear():
    oom = round_error(torch.OutOfMemoryError("CUDA out of memory."), 3, torch.device("cuda"))
    assert isinstance(oom, OutOfMemory) and "round 3" in str(oom) and "batch_size" in str(oom)
    cpu = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB")
    assert isinstance(round_error(cpu, 0, torch.device("cpu")), OutOfMemory)
    assert round_error(RuntimeError("shape mismatch"), 0, torch.device("cpu")) is None


def test_nan_loss_names_round_and_learning_rate(tmp_path: Path):
    cfg = compose_config(*FAST, "trainer.lr=1e30", "trainer.optimizer=sgd")
    exp = setup(cfg)
    rec = Recorder(tmp_path, {}, {})
    rec.start()
    with pytest.raises(TrainingDiverged, match=r"^round 0: .*lower trainer\.lr"):
        run_rounds(exp, 0, rec,)  # fmt: skip
    assert not (tmp_path / CHECKPOINT).exists()


@pytest.mark.parametrize("posterior", ["deterministic", "deep_ensemble"])
def test_posterior_state_round_trip(posterior: str):
    members = ["posterior.members=2"] if posterior == "deep_ensemble" else []
    cfg = compose_config(*FAST, f"posterior={posterior}", *members)
    a, b = setup(cfg), setup(cfg)
    x = a.split.pool_x[:30]
    a.learner.fit(x, a.split.pool_y[:30], 1)
    b.learner.posterior.load_state_dict(a.learner.posterior.state_dict())
    torch.testing.assert_close(b.learner.predict_proba(x), a.learner.predict_proba(x))


def test_resume_of_warm_start_without_networks_is_refused(tmp_path: Path):
    cfg = compose_config(*FAST, "trainer.warm_start=true")
    exp = setup(cfg)
    rec = Recorder(tmp_path, {}, {})
    label = int(exp.split.pool_y[0])
    checkpoint = {"next_round": 1, "labeled": [0], "labels": [label], "rounds": [0]}
    with pytest.raises(UserError, match="resume=false"):
        run_rounds(exp, 0, rec, resume=checkpoint, keep_model=True)  # fmt: skip


def test_unresumable_checkpoint_is_refused_before_the_run_says_it_resumes(tmp_path: Path):
    """One check, run by ``previous_run`` before any "resuming" line and by ``start``."""
    saved = {"next_round": 5, "posterior": None}
    with pytest.raises(UserError, match="posterior=mc_dropout cannot save them.*resume=false"):
        check_resumable(saved, keep_model=True, posterior="mc_dropout")
    check_resumable(saved, keep_model=False, posterior="mc_dropout")  # retrained each round
    check_resumable({**saved, "posterior": {"net": {}}}, keep_model=True, posterior="laplace")
    cfg = compose_config(*FAST, "strategy=mc_dropout", "trainer.warm_start=true")
    settings = identity_config(cfg)
    state = {"next_round": 1, "finished": False, "labeled": [0], "labels": [0], "rounds": [0]}
    Recorder(tmp_path, {}, {}, settings).record({"round": 0}, [], {**state, "posterior": None})
    with pytest.raises(UserError, match="warm-started run cannot resume"):
        previous_run(cfg, tmp_path, settings)


@pytest.mark.parametrize(
    ("strategy", "saved"),
    [
        (["strategy=entropy", "posterior=deep_ensemble", "posterior.members=2"], "nets"),
        (["strategy=laplace"], "net"),
    ],
    ids=["deep_ensemble", "laplace"],
)
def test_warm_start_resume_equals_uninterrupted(tmp_path: Path, strategy: list[str], saved: str):
    """Stop a warm-started run after round 1 in-process, resume from its checkpoint."""
    cfg = compose_config(*FAST, "trainer.warm_start=true", *strategy)

    def run(out: Path, resume=None, stop=lambda: False) -> Recorder:
        exp = setup(cfg)
        rec = Recorder(out, {}, {})
        if resume is not None:
            rec.restore(resume)
        rec.start()
        run_rounds(exp, 0, rec, resume=resume, keep_model=True,
                   stop_requested=stop)  # fmt: skip
        return rec

    full = run(tmp_path / "full")
    with pytest.raises(Interrupted):
        run(tmp_path / "part", stop=lambda: True)
    checkpoint = load_checkpoint(tmp_path / "part" / CHECKPOINT)
    assert checkpoint["next_round"] == 1 and saved in checkpoint["posterior"]
    resumed = run(tmp_path / "part", resume=checkpoint)
    strip = [{k: v for k, v in r.items() if not k.endswith("_seconds")} for r in full.curve]
    assert [
        {k: v for k, v in r.items() if not k.endswith("_seconds")} for r in resumed.curve
    ] == strip
    assert resumed.queries == full.queries


def test_resume_refuses_changed_data(tmp_path: Path):
    cfg = compose_config(*FAST)
    exp = setup(cfg)
    wrong = (int(exp.split.pool_y[0]) + 1) % 3
    checkpoint = {"next_round": 1, "labeled": [0], "labels": [wrong], "rounds": [0]}
    with pytest.raises(UserError, match="labels differ"):
        rec = Recorder(tmp_path, {}, {})
        run_rounds(exp, 0, rec, resume=checkpoint)  # fmt: skip


def test_resume_false_starts_over(tmp_path: Path, reference: Path):
    """resume=false ignores the checkpoint, and a fresh start clears the older run's files."""
    folder = tmp_path / "run"
    shutil.copytree(reference, folder)
    settings = identity_config(compose_config(*LONG))
    assert previous_run(compose_config(*LONG), folder, settings)["finished"]
    assert previous_run(compose_config(*LONG, "resume=false"), folder, settings) is None
    Recorder(folder, {}, {}).start()
    assert not (folder / CHECKPOINT).exists() and not (folder / "learning_curve.csv").exists()
    assert run_info(folder)["status"] == "running"


MID_RUN_CASES = {
    # a cold start: the strategy's first batch is round 0's labels (no initial set)
    "cold_start": [
        "budget.initial=0",
        "strategy=typiclust",
        "representation=pca",
        "representation.dim=5",
    ],
    # a validation set paid from the budget, the best epoch kept on it: 40 pool labels of 70
    "validation": [
        "dataset.val_size=30",
        "budget.count_validation=true",
        "budget.max_labels=70",
        "trainer.select_on_val=true",
        "trainer.val_every=2",
    ],
}


@pytest.mark.parametrize("overrides", list(MID_RUN_CASES.values()), ids=list(MID_RUN_CASES))
def test_stopped_mid_run_then_resumed_equals_uninterrupted(tmp_path: Path, overrides: list[str]):
    """Stop after round 1, resume from the checkpoint in a new set-up: the same queries.csv,
    byte for byte, and the same curve but for its timings."""
    cfg = compose_config(*FAST, f"paths.cache_dir={tmp_path / 'cache'}", *overrides)

    def run(out: Path, resume=None, stop=lambda: False) -> None:
        exp = setup(cfg)
        rec = Recorder(out, {}, {}, columns=curve_columns(exp))
        if resume is not None:
            rec.restore(resume)
        rec.start()
        run_rounds(exp, 0, rec, resume=resume, stop_requested=stop)

    run(tmp_path / "full")
    stops = iter([False, True])
    with pytest.raises(Interrupted):
        run(tmp_path / "part", stop=lambda: next(stops))
    checkpoint = load_checkpoint(tmp_path / "part" / CHECKPOINT)
    assert checkpoint["next_round"] == 2 and not checkpoint["finished"]
    run(tmp_path / "part", resume=checkpoint)
    full, part = tmp_path / "full", tmp_path / "part"
    assert (part / "queries.csv").read_bytes() == (full / "queries.csv").read_bytes()
    assert_same_results(part, full)
