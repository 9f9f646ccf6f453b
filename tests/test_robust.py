"""Nothing lost, nothing outside its folder (issue 13, C and D): finished runs that lost a file,
refused reruns that leave every byte as it was, changed data, foreign checkpoints, crafted
files, names that would leave the results folder, unusable results folders, and two runs
into one folder. Each case through the real ``al`` and, where it has one, at unit level."""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from al_cli.config import NAME_MAX, check_name, option_name
from al_cli.data import load_dataset
from al_cli.errors import UserError
from al_cli.folders import (
    LOCK,
    check_folder,
    check_results_dir,
    name_max,
    remove_stale_temporaries,
    run_folder_lock,
)
from al_cli.resolvers import folder_name  # importing it registers the folder-name resolvers
from al_cli.results import load_checkpoint
from al_cli.run_folder import check_same_data
from al_cli.setup import check_settings
from tests.conftest import (
    AL,
    FAST,
    compose_config,
    npz_cfg,
    one_line_error,
    read_csv,
    run_al,
    run_info,
    start_al,
    wait_for,
    wait_for_rows,
)
from tests.test_data import TINY, images, write_cifar, write_image_folder, write_npz


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (``.hydra/`` and hidden files included), by content."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished run; tests work on copies of it."""
    folder = tmp_path_factory.mktemp("finished") / "run"
    out = run_al("run", *FAST, f"hydra.run.dir={folder}")
    assert out.returncode == 0, out.stderr
    return folder


def copy_of(finished: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    shutil.copytree(finished, folder)
    return folder


# ---- a finished run that lost a file ----------------------------------------------------------


def test_lost_csvs_are_rewritten_and_stale_temporaries_removed(finished: Path, tmp_path: Path):
    folder = copy_of(finished, tmp_path)
    (folder / "learning_curve.csv").unlink()
    (folder / "queries.csv").unlink()
    (folder / ".checkpoint.pt.k1dw8s.tmp").write_bytes(b"half a checkpoint")
    (folder / ".hydra" / ".config.yaml.3rt_u0.tmp").write_text("half a config")
    out = run_al("run", *FAST, f"hydra.run.dir={folder}")
    assert out.returncode == 0, out.stderr
    assert "already finished" in out.stdout and "learning_curve.csv and queries.csv" in out.stdout
    assert snapshot(folder) == snapshot(finished)  # rewritten byte for byte, temporaries gone


def test_lost_checkpoint_is_refused_and_nothing_recomputed(finished: Path, tmp_path: Path):
    folder = copy_of(finished, tmp_path)
    (folder / "checkpoint.pt").unlink()
    before = snapshot(folder)
    out = run_al("run", *FAST, f"hydra.run.dir={folder}")
    one_line_error(out, "no checkpoint.pt", "resume=false")
    assert snapshot(folder) == before


@pytest.mark.parametrize("override", ["trainer.lr=0.01", "seed=1"])
def test_refused_rerun_leaves_every_file_as_it_was(finished: Path, override: str):
    before = snapshot(finished)
    out = run_al("run", *FAST, override, f"hydra.run.dir={finished}")
    one_line_error(out, "another config", override.split("=")[0])
    assert snapshot(finished) == before and ".hydra/overrides.yaml" in before


def test_foreign_checkpoint_is_one_line(finished: Path, tmp_path: Path):
    folder = copy_of(finished, tmp_path)
    torch.save({}, folder / "checkpoint.pt")
    before = snapshot(folder)
    out = run_al("run", *FAST, f"hydra.run.dir={folder}")
    one_line_error(out, "cannot read the checkpoint", "no 'identity'", "resume=false")
    assert snapshot(folder) == before


def test_checkpoints_of_another_shape_are_refused(tmp_path: Path, finished: Path):
    checkpoint = load_checkpoint(finished / "checkpoint.pt")
    for foreign, reason in [
        ([1, 2], "holds a list, not an al checkpoint"),
        ({"identity": {}}, "no 'config': not an al checkpoint"),
        ({**checkpoint, "curve": "rows"}, "'curve' is a str, not a list"),
    ]:
        torch.save(foreign, tmp_path / "c.pt")
        with pytest.raises(UserError, match=f"cannot read the checkpoint .*{reason}.*resume=false"):
            load_checkpoint(tmp_path / "c.pt")


def test_stale_temporaries_only(tmp_path: Path):
    (tmp_path / ".hydra").mkdir()
    stale = [tmp_path / ".run.json.a1.tmp", tmp_path / ".hydra" / ".hydra.yaml.b2.tmp"]
    kept = [tmp_path / "run.json", tmp_path / "notes.tmp", tmp_path / ".hydra" / "config.yaml"]
    for path in stale + kept:
        path.write_text("x")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)


# ---- data that changed, labels, classes -------------------------------------------------------


def labelled(labels: tuple[int, int], n: int = 60) -> dict[str, np.ndarray]:
    y_index = np.arange(n) % 2
    x = images(np.random.default_rng(4), y_index, (8,)).astype(np.float64)
    return {"x": x, "y": np.asarray(labels)[y_index]}


def test_labels_are_mapped_and_recorded_and_changed_data_refused(tmp_path: Path):
    """Labels {3, 7} are two classes, recorded in run.json; after the file changes, the
    finished run is not skipped as if its data were the same."""
    path = write_npz(tmp_path / "mine.npz", **labelled((3, 7)))
    args = ("run", "dataset=npz", f"dataset.path={path}", *TINY, f"hydra.run.dir={tmp_path / 'r'}")
    out = run_al(*args)
    assert out.returncode == 0, out.stderr
    info = run_info(tmp_path / "r")
    assert info["classes"] == [3, 7] and len(info["data_fingerprint"]) == 16
    assert {q["label"] for q in read_csv(tmp_path / "r" / "queries.csv")} == {"0", "1"}
    checkpoint = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert checkpoint["data_fingerprint"] == info["data_fingerprint"]
    before = snapshot(tmp_path / "r")
    arrays = labelled((3, 7))
    arrays["x"][0, 0] += 1.0
    write_npz(path, **arrays)
    one_line_error(run_al(*args), "data differ", "resume=false")
    assert snapshot(tmp_path / "r") == before


def test_label_values_do_not_change_the_problem(tmp_path: Path):
    a = load_dataset(npz_cfg(write_npz(tmp_path / "a.npz", **labelled((3, 7)))))
    b = load_dataset(npz_cfg(write_npz(tmp_path / "b.npz", **labelled((0, 1)))))
    c = load_dataset(npz_cfg(write_npz(tmp_path / "c.npz", **labelled((-1, 100000)))))
    assert a.num_classes == b.num_classes == c.num_classes == 2
    for other in (b, c):
        assert torch.equal(a.pool_y, other.pool_y) and torch.equal(a.pool_x, other.pool_x)
    assert (a.classes, b.classes, c.classes) == ((3, 7), (0, 1), (-1, 100000))


def test_fingerprint_follows_content(tmp_path: Path):
    arrays = labelled((0, 1))
    first = load_dataset(npz_cfg(write_npz(tmp_path / "a.npz", **arrays))).fingerprint
    np.savez_compressed(tmp_path / "b.npz", **arrays)  # other bytes, same arrays
    assert load_dataset(npz_cfg(tmp_path / "b.npz")).fingerprint == first
    arrays["y"][0] = 1 - arrays["y"][0]
    assert load_dataset(npz_cfg(write_npz(tmp_path / "c.npz", **arrays))).fingerprint != first
    write_image_folder(tmp_path / "imgs", per_class=4)
    cfg = compose_config("dataset=image_folder", f"dataset.path={tmp_path / 'imgs'}").dataset
    split = load_dataset(cfg)
    assert split.classes == ("cat", "dog", "eel")
    png = tmp_path / "imgs" / "dog" / "1.png"
    from PIL import Image

    Image.fromarray(np.zeros((20, 24, 3), dtype=np.uint8)).save(png)
    assert load_dataset(cfg).fingerprint != split.fingerprint
    digits = compose_config("dataset=digits").dataset
    assert load_dataset(digits).fingerprint == load_dataset(digits).fingerprint


def test_changed_data_refuses_to_resume(tmp_path: Path):
    started = {"finished": False, "data_fingerprint": "0123456789abcdef"}
    with pytest.raises(UserError, match="started with.*resume=false"):
        check_same_data(started, "fedcba9876543210", tmp_path)
    check_same_data(started, "0123456789abcdef", tmp_path)
    check_same_data({"finished": False}, "anything", tmp_path)  # an older checkpoint: no check


def test_test_classes_absent_from_the_pool_are_said(tmp_path: Path, caplog):
    arrays = labelled((0, 1), n=40)
    path = write_npz(tmp_path / "t.npz", **arrays, x_test=arrays["x"][:6], y_test=[0, 1, 2] * 2)
    with caplog.at_level(logging.WARNING, logger="al"):
        split = load_dataset(npz_cfg(path))
    assert split.num_classes == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "test class(es) 2 never occur in the pool" in warnings[0]


# ---- settings, names and folders refused in one line ------------------------------------------

LONG_NAME = "x" * 300
"""Longer than a folder name may be (255 bytes on common file systems)."""
SETTINGS = [
    (["seed=-1"], "seed=-1"),
    (["dataset.n_samples=0"], "dataset.n_samples=0"),
    (["strategy=entropy", "strategy.candidates=5"], "strategy.candidates=5"),
    # beyond the 32 bits derive_seed gives a seed (no folder seed99999999999999999999)
    (["seed=99999999999999999999"], "seed=99999999999999999999 must lie in 0..4294967295"),
    (["dataset.split_seed=-1"], "dataset.split_seed=-1"),  # the same path as n_samples: unit only
    (["dataset.split_seed=4294967296"], "dataset.split_seed=4294967296 must lie in 0..4294967295"),
]
REFUSED = [
    *SETTINGS[:4],
    (["dataset._target_=subprocess.run"], "dataset._target_"),
    (["strategy._target_=subprocess.Popen"], "strategy._target_"),
    (["dataset.name=../../escape"], "dataset.name='../../escape'"),
    (["dataset.name="], "dataset.name=''"),  # set, so meant: never the loader's name instead
    ([f"dataset.name={LONG_NAME}"], "dataset.name='xxxxxxxxxx"),
    (["paths.results_dir="], "paths.results_dir is empty"),
    (["paths.results_dir={tmp}/file"], "is a file"),
]


@pytest.mark.parametrize(("overrides", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_refused_in_one_line_writing_nothing(tmp_path: Path, overrides: list[str], message: str):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "file").write_text("a file, not a folder\n")
    before = snapshot(tmp_path)
    overrides = [o.format(tmp=tmp_path / "work") for o in overrides]
    results = [] if any(o.startswith("paths.") for o in overrides) else ["paths.results_dir=R"]
    out = run_al("run", *FAST, *results, *overrides, cwd=tmp_path / "work")
    one_line_error(out, message)
    assert snapshot(tmp_path) == before and sorted(os.listdir(tmp_path / "work")) == ["file"]
    assert not list(tmp_path.rglob("*escape*")) and not Path("/synthetic").exists()


def test_a_sweep_job_named_out_of_its_folder_is_refused(tmp_path: Path):
    out = run_al(
        "run", "-m", *FAST, "dataset.name=../../escape,x", "paths.results_dir=R", cwd=tmp_path
    )
    one_line_error(out, "dataset.name='../../escape'")
    assert not list(tmp_path.rglob("*escape*")) and not list(tmp_path.rglob("x"))


@pytest.mark.parametrize(("overrides", "message"), SETTINGS, ids=[m for _, m in SETTINGS])
def test_refused_settings_at_unit_level(overrides: list[str], message: str):
    cfg = compose_config(*FAST, *overrides)
    with pytest.raises(UserError, match=message.replace(".", r"\.")):
        check_settings(cfg)
        load_dataset(cfg.dataset)


def test_names_that_cannot_name_a_folder():
    for bad in ("", ".", "..", "../x", "a/b", "a\\b", "tab\there", LONG_NAME, "ü" * 128):
        with pytest.raises(UserError, match="cannot name a run folder"):
            check_name(bad, "dataset")
    for good in ("mnist", "my data", "v1.2", "..x", "ümlaut", "x" * 255, "ü" * 127):
        assert check_name(good, "dataset") == good
    with pytest.raises(UserError, match=r"is 255 bytes long .*at most 246 bytes.*strategy\.name"):
        check_name("x" * 255, "strategy", room=246)
    # an empty name is refused; only an option that sets none is named after its _target_
    node = compose_config("dataset.name=").dataset
    with pytest.raises(UserError, match="dataset.name='' cannot name a run folder"):
        option_name(node, "dataset")
    custom = OmegaConf.create({"name": "???", "_target_": "mylab.data.load_blobs"})
    assert option_name(custom, "dataset") == "load_blobs"


def test_folder_names_fit_the_file_system(tmp_path: Path, monkeypatch):
    """The room for a name comes from os.pathconf of the results folder's file system (its
    nearest existing folder), 255 where it cannot say; the strategy's keeps room for its hash."""
    assert name_max(tmp_path / "not" / "yet") == os.pathconf(tmp_path, "PC_NAME_MAX")
    monkeypatch.setattr(os, "pathconf", lambda *a: (_ for _ in ()).throw(OSError("no")))
    assert name_max(tmp_path) == NAME_MAX == 255
    cfg = compose_config(f"paths.results_dir={tmp_path}", f"strategy.name={'s' * 247}")
    with pytest.raises(UserError, match="at most 246 bytes"):
        folder_name("strategy", cfg)
    assert folder_name("dataset", cfg) == "digits"


def test_results_folder_checks_at_unit_level(tmp_path: Path):
    check_folder(tmp_path / "new" / "deeper")  # made later, by Hydra
    (tmp_path / "f").write_text("")
    with pytest.raises(UserError, match=f"cannot make the run folder .*: {tmp_path / 'f'} is a"):
        check_folder(tmp_path / "f" / "run")
    for empty in ("", "  ", None):
        with pytest.raises(UserError, match="paths.results_dir is empty"):
            check_results_dir(empty)
    check_results_dir("results")


def without_root_override() -> list[str]:
    """A command prefix under which a read-only folder is read-only, even for root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root without setpriv: a read-only folder is writable here")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def run_unprivileged(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [*without_root_override(), AL, *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_read_only_results_folder_is_one_line(tmp_path: Path, finished: Path):
    results = tmp_path / "results"
    results.mkdir()
    results.chmod(0o555)
    try:
        out = run_unprivileged("run", *FAST, f"paths.results_dir={results}")
        one_line_error(out, "read-only", str(results))
        assert list(results.iterdir()) == []
        plots = tmp_path / "plots"
        plots.mkdir(mode=0o555)
        res = run_unprivileged("plot", str(finished), "--out", str(plots))
        one_line_error(res, "cannot write to --out", command="plot")
        assert list(plots.iterdir()) == []
    finally:
        results.chmod(0o755)


# ---- crafted and corrupt files ----------------------------------------------------------------


class Touch:
    """Unpickles to a shell command that makes a file: what a crafted data_batch_1 did."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_crafted_cifar_batch_runs_nothing(tmp_path: Path):
    write_cifar(tmp_path / "data", hundred=False, per_batch=6, n_test=10)
    batch = tmp_path / "data" / "cifar-10-batches-py" / "data_batch_1"
    proof = tmp_path / "plain-pickle-ran-it"
    batch.write_bytes(pickle.dumps(Touch(proof)))
    with open(batch, "rb") as f:
        pickle.load(f)  # the file is a real attack: plain pickle runs the command
    assert proof.exists()
    marker = tmp_path / "al-ran-it"
    batch.write_bytes(pickle.dumps({"data": Touch(marker), "labels": [0] * 6}, protocol=2))
    out = run_al(
        "run", "dataset=cifar10", "model=mlp", f"paths.data_dir={tmp_path / 'data'}",
        "dataset.download=false", *TINY, f"hydra.run.dir={tmp_path / 'run'}",
    )  # fmt: skip
    one_line_error(out, "data_batch_1", "posix.system", "never holds")
    assert not marker.exists() and not (tmp_path / "run").exists()


def test_cifar_batches_of_either_protocol_are_read(tmp_path: Path):
    from al_cli.data.vision import read_cifar_batch

    data = images(np.random.default_rng(0), np.arange(4) % 2, (3, 32, 32)).reshape(4, -1)
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        path = tmp_path / f"batch{protocol}"
        labels = [np.int64(0), 1, 0, 1]
        path.write_bytes(pickle.dumps({"data": data, "labels": labels}, protocol=protocol))
        entry = read_cifar_batch(path)
        assert np.array_equal(entry["data"], data) and list(entry["labels"]) == [0, 1, 0, 1]


def test_corrupt_image_is_named(tmp_path: Path):
    write_image_folder(tmp_path / "imgs", per_class=8)
    bad = tmp_path / "imgs" / "dog" / "3.png"
    bad.write_bytes(bad.read_bytes()[:60])  # truncated
    out = run_al(
        "run", "dataset=image_folder", f"dataset.path={tmp_path / 'imgs'}", "model=mlp",
        "dataset.image_size=8", *TINY, f"hydra.run.dir={tmp_path / 'run'}",
    )  # fmt: skip
    one_line_error(out, f"cannot read the image {bad}")
    cfg = compose_config(
        "dataset=image_folder", f"dataset.path={tmp_path / 'imgs'}", "dataset.num_workers=1"
    ).dataset
    with pytest.raises(UserError, match=f"^cannot read the image {bad} \\("):
        load_dataset(cfg)  # from a worker process too


# ---- stopping, and two runs into one folder ----------------------------------------------------


def test_stop_promises_a_resume_only_when_there_is_one(tmp_path: Path):
    args = (
        "run", *FAST, "budget.max_labels=80", "strategy=mc_dropout", "posterior.samples=4",
        "trainer.warm_start=true", f"hydra.run.dir={tmp_path}",
    )  # fmt: skip
    proc = start_al(*args)
    wait_for_rows(proc, tmp_path / "learning_curve.csv", 1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "cannot resume" in stderr and "posterior=mc_dropout" in stderr
    assert "Rerun the same command to resume" not in stderr and "Traceback" not in stderr
    # the rerun says so once, before it starts: no "resuming ... at round 1" first
    before = snapshot(tmp_path)
    out = run_al(*args)
    one_line_error(out, "cannot resume", "posterior=mc_dropout", "resume=false")
    assert "resuming" not in out.stdout + out.stderr and snapshot(tmp_path) == before


def held_by(lock: Path) -> str:
    try:
        return lock.read_text()
    except FileNotFoundError:
        return ""


def test_second_run_into_a_busy_folder_is_refused(tmp_path: Path):
    """Two real ``al run`` processes, another setting each: the first holds the folder (it is
    paused while the second tries), the second is refused in one line, the first finishes,
    and the folder holds the first run alone."""
    first = start_al("run", *FAST, "trainer.lr=0.001", f"hydra.run.dir={tmp_path}")
    wait_for(lambda: "pid" in held_by(tmp_path / LOCK), "no lock held", 120, first, every=0.01)
    first.send_signal(signal.SIGSTOP)
    try:
        second = run_al("run", *FAST, "trainer.lr=0.01", f"hydra.run.dir={tmp_path}")
    finally:
        first.send_signal(signal.SIGCONT)
    one_line_error(second, "another al run", f"pid {first.pid}", str(tmp_path))
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    info = run_info(tmp_path)
    assert info["status"] == "finished" and info["config"]["trainer"]["lr"] == 0.001
    assert "lr: 0.001" in (tmp_path / ".hydra" / "config.yaml").read_text()
    assert load_checkpoint(tmp_path / "checkpoint.pt")["identity"]["trainer"]["lr"] == 0.001
    assert not (tmp_path / LOCK).exists()


def test_lock_is_released_and_refuses_while_held(tmp_path: Path):
    with run_folder_lock(tmp_path):
        assert f"pid {os.getpid()}" in (tmp_path / LOCK).read_text()
        code = (
            "import sys; from al_cli.folders import run_folder_lock\n"
            "try:\n    run_folder_lock(sys.argv[1]).__enter__()\n"
            "except Exception as err:\n    print(err)\n"
        )
        python = str(Path(AL).with_name("python"))
        out = subprocess.run([python, "-c", code, str(tmp_path)], capture_output=True, text=True)
        assert "another al run" in out.stdout, out.stdout + out.stderr
    assert not (tmp_path / LOCK).exists()
    with run_folder_lock(tmp_path):  # free again
        pass
