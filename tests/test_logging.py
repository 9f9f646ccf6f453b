"""What a run prints and logs: run.log holds every line; ``hydra/job_logging=disabled`` quiets
the console, ``hydra.verbose`` adds debug lines; progress bars only on a terminal, never in a
log or CSV."""

from __future__ import annotations

import io
import logging
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from al_cli import progress
from al_cli.console import handlers
from tests.conftest import AL, FAST, read_terminal, run_al, set_terminal_size

ONE_ROUND = [*FAST, "budget.max_labels=20"]


def test_quiet_console_keeps_the_log_file(tmp_path: Path):
    out = run_al("run", *ONE_ROUND, "hydra/job_logging=disabled", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""
    log = (tmp_path / "run.log").read_text()
    assert "round   1  labels    20" in log and "al run: finished 2 rounds" in log
    assert "DEBUG" not in log  # debug lines only with hydra.verbose


def test_verbose_adds_debug_lines_to_console_and_log(tmp_path: Path):
    out = run_al("run", *ONE_ROUND, "hydra.verbose=al", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    assert "trained on 10 labels" in out.stdout and "torch threads" in out.stdout
    assert "DEBUG trained on 20 labels" in (tmp_path / "run.log").read_text()


def test_warnings_on_stderr_and_in_run_log_never_on_stdout(tmp_path: Path):
    """A test class the pool lacks is warned about while the data load, before run.log opens:
    the warning is on standard error and in run.log, the round lines alone on standard output
    (what a script parses); quiet, the console is empty and run.log still has it."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    data = tmp_path / "t.npz"
    np.savez(data, x=x, y=np.arange(60) % 2, x_test=x[:6], y_test=[0, 1, 2] * 2)
    args = [*ONE_ROUND, "dataset=npz", f"dataset.path={data}"]
    args = [a for a in args if not a.startswith(("dataset=synthetic", "dataset.n_samples"))]
    warning = "al run: warning: dataset npz: test class(es) 2 never occur in the pool"
    out = run_al("run", *args, f"hydra.run.dir={tmp_path / 'run'}")
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith(warning) and len(out.stderr.splitlines()) == 1, out.stderr
    assert "never occur" not in out.stdout and "round   1  labels    20" in out.stdout
    log = (tmp_path / "run" / "run.log").read_text().splitlines()
    assert f"WARNING {warning}" in log[0] and "round   1" in log[-2]
    out = run_al("run", *args, "hydra/job_logging=disabled", f"hydra.run.dir={tmp_path / 'q'}")
    assert out.returncode == 0 and out.stdout == "" and out.stderr == "", out.stderr
    assert f"WARNING {warning}" in (tmp_path / "q" / "run.log").read_text()


def test_bars_on_a_terminal_only(tmp_path: Path):
    """stderr on a pseudo-terminal: a training bar appears, and nothing of it reaches stdout,
    run.log or the CSV."""
    master, slave = os.openpty()
    set_terminal_size(slave, 24, 120)
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["TQDM_DELAY"] = "0"  # tqdm's own setting: every bar at once, however short its step
    args = [*FAST, "budget.max_labels=10", "trainer.epochs=200", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.Popen(
        [AL, "run", *args], stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, env=env
    )
    os.close(slave)
    terminal = read_terminal(master, done=lambda: proc.poll() is not None)
    stdout = proc.stdout.read().decode()
    assert proc.wait() == 0, stdout + terminal.decode(errors="replace")
    os.close(master)
    assert "training:" in terminal.decode(errors="replace") and "epoch/s" in terminal.decode()
    for text in (stdout, (tmp_path / "run.log").read_text()):
        assert "training" not in text and "epoch/s" not in text
    assert "it/s" not in (tmp_path / "learning_curve.csv").read_text()


# ---- unit level -------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def console(monkeypatch):
    """A console log handler, as under ``al run``; tests put a terminal on stderr themselves
    (pytest's capture replaces sys.stderr between a fixture and its test)."""
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    monkeypatch.setattr(progress, "DELAY", 0)
    yield
    root.removeHandler(handler)
    root.setLevel(level)


def terminal(monkeypatch) -> FakeTerminal:
    fake = FakeTerminal()
    monkeypatch.setattr("sys.stderr", fake)
    return fake


def test_bar_drawn_on_a_terminal(console, monkeypatch):
    screen = terminal(monkeypatch)
    assert progress.shown()
    assert list(progress.steps(3, "training", "epoch")) == [0, 1, 2]
    assert "training" in screen.getvalue()


def test_no_bar_when_quiet(console, monkeypatch):
    screen = terminal(monkeypatch)
    logging.getLogger().setLevel(logging.ERROR)  # hydra/job_logging=disabled
    assert not progress.shown()
    assert list(progress.steps(3, "training")) == [0, 1, 2]
    assert screen.getvalue() == ""


def test_lines_above_bars_keep_their_streams(monkeypatch):
    """While bars are drawn, round lines still go to stdout and warnings to stderr (tqdm's
    own redirection would send both to one stream)."""
    screen = terminal(monkeypatch)
    stdout = io.StringIO()
    monkeypatch.setattr("sys.stdout", stdout)
    root = logging.getLogger()
    console = handlers(logging.Formatter("%(message)s"))
    level = root.level
    for handler in console:
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with progress.lines_above_bars():
            assert not set(console) & set(root.handlers)  # replaced while bars are drawn
            logging.getLogger("al").info("round   1")
            logging.getLogger("al").warning("al run: warning: x")
        assert set(console) <= set(root.handlers)
    finally:
        for handler in console:
            root.removeHandler(handler)
        root.setLevel(level)
    assert stdout.getvalue() == "round   1\n"
    assert "al run: warning: x" in screen.getvalue() and "round" not in screen.getvalue()


def test_no_bar_without_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not progress.shown()
    items = [1, 2]
    assert progress.progress(items, "x") is items
