"""What the README's install lines rely on: the package asks for torch by version range only,
so pip's choice of build (CUDA from PyPI, or CPU from PyTorch's CPU index installed first) is
the user's, and the README's quickstart keeps its two commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = Path(__file__).resolve().parents[1]


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return project["dependencies"] + extras


def test_no_build_of_torch_is_pinned():
    for req in requirements():
        name = re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].lower()
        assert "+cu" not in req and "+cpu" not in req, req  # no local version of a build
        assert not name.startswith("nvidia-"), req
        if name in ("torch", "torchvision"):
            assert "==" not in req and ">=" in req, req  # a range: a CPU build already there counts


def test_readme_opens_with_the_two_commands_and_the_cpu_route():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S).group(1).splitlines()
    assert block[0].startswith("pip install -e '.[dev]' && al run strategy=")
    assert block[1] == "pytest"
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in text
