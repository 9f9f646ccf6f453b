"""run.json's provenance: the machine, the versions, the git state of al and of the working
directory, the command line, start and end times."""

from __future__ import annotations

import platform
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from al_cli.provenance import al_checkout, cpu_model, git_state, host, typed_command
from tests.conftest import FAST, heavy_imports, run_al, run_info

GIT = shutil.which("git")


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def make_repo(folder: Path) -> str:
    folder.mkdir(parents=True)
    git(folder, "init", "-q")
    (folder / "notes.txt").write_text("one\n")
    git(folder, "add", "notes.txt")
    git(folder, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    return git(folder, "rev-parse", "HEAD")


@pytest.mark.skipif(GIT is None, reason="no git here")
def test_run_json_holds_the_provenance(tmp_path: Path):
    repo = tmp_path / "project"
    commit = make_repo(repo)
    (repo / "notes.txt").write_text("two\n")  # a tracked file changed: dirty
    out = run_al("run", *FAST, "budget.max_labels=20", "threads=1", "hydra.run.dir=run", cwd=repo)
    assert out.returncode == 0, out.stderr
    info = run_info(repo / "run")
    machine = info["host"]
    assert machine["hostname"] == socket.gethostname()
    assert machine["os"] == platform.platform()
    assert machine["cpu"] and machine["cpu_count"] >= machine["cpus_available"] >= 1
    assert machine["torch_threads"] == info["torch_threads"] == info["config"]["threads"] == 1
    assert "gpu" not in machine  # device=cpu: no GPU described
    for package in ("torch", "torchvision", "numpy", "hydra-core", "al-cli"):
        assert info["versions"][package] not in ("", "not installed"), package
    assert info["git"]["cwd"] == {"commit": commit, "dirty": True, "root": str(repo.resolve())}
    checkout = al_checkout()
    if checkout is not None:  # installed from a checkout (pip install -e .)
        assert info["git"]["al"]["commit"] == git(checkout, "rev-parse", "HEAD")
    typed = [*FAST, "budget.max_labels=20", "threads=1", "hydra.run.dir=run"]
    assert info["command_line"] == "al run " + " ".join(typed)
    assert info["started"] <= info["finished"] and info["status"] == "finished"


def test_outside_a_repository_the_working_directory_has_no_git_state(tmp_path: Path):
    assert git_state(tmp_path) is None


@pytest.mark.skipif(GIT is None, reason="no git here")
def test_a_clean_repository_is_not_dirty(tmp_path: Path):
    commit = make_repo(tmp_path / "r")
    (tmp_path / "r" / "untracked.csv").write_text("results are not code\n")
    assert git_state(tmp_path / "r") == {
        "commit": commit,
        "dirty": False,
        "root": str((tmp_path / "r").resolve()),
    }


def test_without_git_nothing_breaks(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on the PATH
    assert git_state(Path.cwd()) is None


def test_host_describes_the_cpu_and_no_gpu_for_a_cpu_run():
    machine = host("cpu")
    assert machine["cpu"] == cpu_model() and machine["cpu"]
    assert {"hostname", "os", "cpu_count", "cpus_available", "torch_threads"} <= set(machine)
    assert "cuda" not in machine


def test_typed_command():
    assert typed_command(["/venv/bin/al run", "-m", "seed=0,1"]) == "al run -m seed=0,1"
    assert typed_command(["/x/al run", "logger=[a,b]"]) == "al run 'logger=[a,b]'"
    assert typed_command(["/src/al_cli/__main__.py run", "seed=1"]) == (
        "python -m al_cli run seed=1"
    )


def test_provenance_is_cheap_to_import():
    assert heavy_imports("al_cli.provenance, al_cli.launch", ("torch",)) == []
