"""Shared test helpers: the real ``al`` command in a subprocess, composed configs, run folders,
waiting on a process, and reading a pseudo-terminal."""

from __future__ import annotations

import ast
import csv
import fcntl
import importlib.util
import json
import math
import os
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from hydra import compose, initialize_config_module
from omegaconf import DictConfig

import al_cli.config  # noqa: F401  (registers the schemas before composing)

# One torch thread per test process and per al it starts: pytest-xdist already runs a worker
# per CPU, and torch's threads fighting for the same cores made runs several times slower
# (the Python API page's example: 133 s in the suite, over 600 s beside two busy processes;
# 45 s on one thread). Tests of the thread choice set or remove it themselves.
os.environ.setdefault("OMP_NUM_THREADS", "1")

AL = (
    str(Path(sys.executable).parent / "al")
    if (Path(sys.executable).parent / "al").exists()
    else shutil.which("al")
)

FAST = [
    "dataset=synthetic",
    "dataset.n_samples=300",
    "budget.initial=10",
    "budget.query_size=10",
    "budget.max_labels=40",
    "trainer.epochs=5",
    "trainer.min_steps=20",
    "device=cpu",
]
"""Overrides that make a run take about a second of training."""

DIGITS_TINY = [
    "budget.initial=10",
    "budget.query_size=10",
    "budget.max_labels=30",
    "trainer.epochs=5",
    "trainer.min_steps=20",
    "device=cpu",
]
"""A run on digits (the default data) with a tiny budget: 10, 20 and 30 labels."""


def run_al(
    *args: str, cwd: Path | None = None, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run the installed ``al`` console script, as a user would (``env``: added variables;
    a variable set to None is removed)."""
    assert AL, "the al console script is not installed; pip install -e '.[dev]'"
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONWARNINGS": "ignore", **(env or {})}
    env = {k: v for k, v in env.items() if v is not None and k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [AL, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def start_al(*args: str) -> subprocess.Popen:
    """``al`` started in the background, as a user would, to be stopped or waited for."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.Popen(
        [AL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def one_line_error(out: subprocess.CompletedProcess, *words: str, command: str = "run") -> str:
    """Exit 2, one line on stderr (``al COMMAND: error: ...``) naming ``words``, no traceback
    anywhere; the line is returned."""
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2 and len(lines) == 1, out.stderr + out.stdout
    assert lines[0].startswith(f"al {command}: error: "), lines[0]
    assert "Traceback" not in out.stderr + out.stdout
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    what: str | Callable[[], str],
    timeout: float,
    proc: subprocess.Popen | None = None,
    every: float = 0.1,
) -> T:
    """Poll ``condition`` every ``every`` s until it returns something true, and return that.
    Fails if ``proc`` ends first (with its output) or ``timeout`` s pass (with ``what``, what
    is still wrong then; a callable is asked only then)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if proc is not None:
            assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, (
            f"after {timeout} s: {what() if callable(what) else what}"
        )
        time.sleep(every)
    return value


def rows_in(path: Path) -> int:
    """Rows of a CSV file, 0 while it does not exist."""
    try:
        return len(read_csv(path))
    except FileNotFoundError:
        return 0


def wait_for_rows(proc: subprocess.Popen, curve: Path, n: int, timeout: float = 120) -> int:
    """Poll until ``curve`` holds ``n`` (at least 1) rows while ``proc`` runs (the file is
    only ever replaced whole); the rows it then holds."""
    return wait_for(
        lambda: (rows := rows_in(curve)) >= n and rows,
        f"no {n} rows in {curve}",
        timeout,
        proc,
        every=0.02,
    )


def set_terminal_size(fd: int, rows: int, columns: int) -> None:
    """Give the pseudo-terminal ``fd`` a window size, as a terminal emulator does."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def read_terminal(
    fd: int,
    screen: bytes = b"",
    seconds: float = math.inf,
    until: bytes | None = None,
    done: Callable[[], bool] | None = None,
) -> bytes:
    """``screen`` followed by what the pseudo-terminal ``fd`` shows next, read until ``until``
    is in it, ``seconds`` pass, the terminal closes, or ``done()`` holds while it is quiet."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (until and until in screen):
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                screen += os.read(fd, 65536)
            except OSError:  # the other side closed (EIO on Linux)
                break
        elif done is not None and done():
            break
    return screen


def heavy_imports(modules: str, heavy: tuple[str, ...]) -> list[str]:
    """Which of the ``heavy`` top-level packages ``import <modules>`` loads in a fresh
    interpreter (a command that must start fast keeps them out)."""
    code = (
        f"import sys, {modules}\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(heavy)!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return ast.literal_eval(out.stdout)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def without_timing(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if not k.endswith("_seconds")} for r in rows]


def assert_same_results(a: Path, b: Path) -> None:
    """Two run folders hold the same curve (timings aside) and the same queries."""
    assert without_timing(read_csv(a / "learning_curve.csv")) == without_timing(
        read_csv(b / "learning_curve.csv")
    )
    assert read_csv(a / "queries.csv") == read_csv(b / "queries.csv")


def run_info(folder: Path) -> dict[str, Any]:
    """A run folder's run.json."""
    return json.loads((folder / "run.json").read_text())


def compose_config(*overrides: str) -> DictConfig:
    """Compose the packaged configs through Hydra's compose API, as the installed app does."""
    with initialize_config_module(config_module="al_cli.configs", version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def refused(*overrides: str, key: str) -> str:
    """Composing these overrides fails, and ``al run``'s one-line message names ``key``."""
    from al_cli.cli import composition_error

    with pytest.raises(Exception) as info:
        compose_config(*overrides)
    line = composition_error(info.value)
    assert line is not None and key in line and "\n" not in line, line
    return line


def npz_cfg(path: Path, *extra: str) -> DictConfig:
    """The dataset config of ``dataset=npz`` reading ``path``."""
    return compose_config("dataset=npz", f"dataset.path={path}", *extra).dataset


@pytest.fixture
def fast() -> list[str]:
    return list(FAST)


def script(name: str) -> ModuleType:
    """``scripts/NAME.py`` as a module: where a benchmark keeps the code a change replaced, its
    test compares against that same function."""
    path = Path(__file__).resolve().parent.parent / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
