"""What a run prints and logs: run.log holds every line; ``hydra/job_logging=disabled`` quiets
the console, ``hydra.verbose`` adds debug lines; progress bars only on a terminal, never in a
log or CSV."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import select
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from al_cli import progress
from tests.conftest import AL, FAST, run_al

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


def test_bars_on_a_terminal_only(tmp_path: Path):
    """stderr on a pseudo-terminal: a training bar appears, and nothing of it reaches stdout,
    run.log or the CSV."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["TQDM_DELAY"] = "0"  # tqdm's own setting: every bar at once, however short its step
    args = [*FAST, "budget.max_labels=10", "trainer.epochs=200", f"hydra.run.dir={tmp_path}"]
    proc = subprocess.Popen(
        [AL, "run", *args], stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, env=env
    )
    os.close(slave)
    terminal = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                terminal += os.read(master, 65536)
            except OSError:
                break
        elif proc.poll() is not None:
            break
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


def test_no_bar_without_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not progress.shown()
    items = [1, 2]
    assert progress.progress(items, "x") is items
