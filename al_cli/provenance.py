"""Where, on what and from which code a run was made: the provenance part of ``run.json``.

Cheap by design: the host facts come from the standard library and ``/proc``, git is asked
through a subprocess with a short timeout (no git, or no repository, is fine: the field is
null), and the GPU is described only for a run on a CUDA device, whose context exists anyway.
"""

from __future__ import annotations

import os
import platform
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

GIT_TIMEOUT_S = 3.0
COMMAND_VARIABLE = "AL_COMMAND"
"""Set by the launching ``al run`` process to its command line, so that sweep jobs (joblib
workers, submitit jobs), whose own ``sys.argv`` is the launcher's, record the command typed."""


def command_line() -> str:
    """The command that launched this run, as one shell line."""
    return os.environ.get(COMMAND_VARIABLE) or typed_command(sys.argv)


def typed_command(argv: list[str]) -> str:
    """The command line as typed: ``al run ...`` (the console script renames its argv[0] to
    ``<path>/al run``), or ``python -m al_cli run ...``."""
    head, *rest = argv
    program = Path(head.split(" ")[0]).name
    words = head.split(" ")[1:]
    if program in ("__main__.py", "al_cli"):
        return shlex.join(["python", "-m", "al_cli", *words, *rest])
    return shlex.join([program, *words, *rest])


def git_state(folder: Path) -> dict[str, Any] | None:
    """The commit checked out in the git repository holding ``folder`` and whether tracked
    files differ from it (``dirty``); None outside a repository or without git."""
    try:
        head = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
        )
        if head.returncode != 0:
            return None
        commit, root = head.stdout.split()[:2]
        status = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return {"commit": commit, "dirty": dirty, "root": root}


def al_checkout() -> Path | None:
    """The checkout al is installed from (an editable install), or None."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / ".git").exists() else None


def cpu_model() -> str:
    """The CPU's model name, as the operating system reports it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("model name", "Model", "Hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT_S,
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def host(device: Any) -> dict[str, Any]:
    """The machine: name, OS, CPU, CPUs (all, and those this process may use), torch's
    threads, and for a CUDA device the GPU's model and the CUDA and cuDNN versions."""
    import torch

    from al_cli.threads import available_cpus

    info: dict[str, Any] = {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": available_cpus(),
        "torch_threads": torch.get_num_threads(),
    }
    device = torch.device(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu"] = props.name
        info["gpu_memory_gb"] = round(props.total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    elif device.type == "mps":
        info["gpu"] = "Apple MPS"
    return info


def provenance(device: Any) -> dict[str, Any]:
    """run.json's provenance: the command, the machine, and the git state of al's checkout
    (when installed from one) and of the working directory (when it is a repository)."""
    checkout = al_checkout()
    return {
        "command_line": command_line(),
        "host": host(device),
        "git": {
            "al": git_state(checkout) if checkout else None,
            "cwd": git_state(Path.cwd()),
        },
    }
