"""The conventions of a command-line tool: ``--version``, and tab completion of ``al run`` in
interactive bash and zsh, installed with the one line the README gives."""

from __future__ import annotations

import os
import pty
import shutil
from pathlib import Path

import pytest

from al_cli import __version__
from al_cli.completion import completion_request, script
from tests.conftest import AL, read_terminal, run_al, set_terminal_size


def test_version_of_al_and_of_al_run():
    for args in (["--version"], ["run", "--version"], ["run", "strategy=entropy", "--version"]):
        out = run_al(*args)
        assert out.returncode == 0 and out.stdout == f"al {__version__}\n", args


def interactive(shell: list[str], install: str, typed: str, cwd: Path) -> str:
    """What an interactive ``shell`` shows after evaluating ``install`` and typing ``typed``
    (a tab included): the command line as completion left it."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: an interactive shell on the terminal, al on its PATH
        os.chdir(cwd)
        env = {
            **os.environ,
            "PATH": f"{Path(AL).parent}{os.pathsep}{os.environ['PATH']}",
            "PS1": "$ ",
            "PROMPT": "$ ",
            "TERM": "dumb",
            "HOME": str(cwd),
        }
        os.execvpe(shell[0], shell, env)
    set_terminal_size(fd, 24, 200)
    screen = b""
    try:
        screen = read_terminal(fd, screen, 5)
        os.write(fd, f"{install}; echo installed\n".encode())
        screen = read_terminal(fd, screen, 60, b"installed\r\n")
        screen = b""
        os.write(fd, typed.encode())
        # the completion asks al, which answers in about a second
        screen = read_terminal(fd, screen, 30, b"tensorboard")
        screen = read_terminal(fd, screen, 1)
    finally:
        os.write(fd, b"\x03exit\n")
        screen = read_terminal(fd, screen, 1)
        os.close(fd)
        os.waitpid(pid, 0)
    return screen.decode(errors="replace")


@pytest.mark.parametrize(
    "shell",
    [
        ["bash", "--norc", "--noprofile", "-i"],
        ["zsh", "-f", "-i"],
    ],
    ids=["bash", "zsh"],
)
def test_tab_completes_al_run_overrides(shell: list[str], tmp_path: Path):
    if shutil.which(shell[0]) is None:
        pytest.skip(f"{shell[0]} is not installed")
    install = f'eval "$(al run -sc install={shell[0]})"'  # the README's one line
    if shell[0] == "zsh":  # as in a ~/.zshrc: the completion system first
        install = f"autoload -Uz compinit && compinit -u; {install}"
    screen = interactive(shell, install, "al run logger=tensorb\t", tmp_path)
    assert "al run logger=tensorboard" in screen, screen


def test_completion_query_lists_groups_options_and_keys():
    out = run_al("run", "-sc", "query=bash", env={"COMP_LINE": "al logger="})
    assert out.returncode == 0, out.stderr
    assert set(out.stdout.split()) == {"logger=mlflow", "logger=none", "logger=tensorboard"}
    out = run_al("run", "-sc", "query=bash", env={"COMP_LINE": "al trainer.l"})
    assert out.stdout.split() == [
        "trainer.l2_per_label=",
        "trainer.l2_scope=",
        "trainer.last_batch=",
        "trainer.lr=",
    ]


def test_completion_scripts_and_refusal():
    assert "complete -o nospace -o default -F _al_completion al" in script("install", "bash")
    assert "compdef _al al" in script("install", "zsh")
    assert "complete -r al" in script("uninstall", "bash")
    assert completion_request(["strategy=entropy"]) is None
    assert completion_request(["-sc", "install=zsh"]) == ("install", "zsh")
    out = run_al("run", "-sc", "install=fish")
    assert out.returncode == 2 and out.stderr == (
        "al run: error: no completion for 'fish'; use bash or zsh\n"
    )
