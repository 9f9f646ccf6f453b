"""CONTRIBUTING.md's walk-through, followed as written in a copy of the package: its new files
written, its schema inserted into al_cli/config.py where it says, then its commands run, the
`al run` with the copy first on the path and the conformance test of the copied suite."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import one_line_error, read_csv, run_al

ROOT = Path(__file__).parent.parent
PAGE = ROOT / "CONTRIBUTING.md"
SECTION = "## Walk-through: a new strategy"
EDIT = re.compile(r"# in: (\S+), (above|below) (['\"])(.+)\3")


def walkthrough() -> tuple[list[tuple[str, str]], list[list[str]]]:
    """The section's code blocks in order, as (header, body), and its shell commands."""
    text = PAGE.read_text()
    assert f"\n{SECTION}\n" in text, f"{PAGE.name} has no '{SECTION}' section"
    section = text.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    blocks, commands = [], []
    for lang, block in re.findall(r"```(\w*)\n(.*?)```", section, flags=re.S):
        if lang == "bash":
            commands += [shlex.split(line) for line in block.splitlines() if line.strip()]
        else:
            header, _, body = block.partition("\n")
            blocks.append((header, body))
    return blocks, commands


def apply(blocks: list[tuple[str, str]], root: Path) -> None:
    """Write each ``# file: PATH`` block; insert each ``# in: PATH, above/below "LINE"`` block
    next to the one line that starts with LINE (configs/ lives inside the copied package)."""
    for header, body in blocks:
        if header.startswith("# file: "):
            path = root / header.removeprefix("# file: ").replace("configs/", "al_cli/configs/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
            continue
        match = EDIT.fullmatch(header)
        assert match, f"a walk-through block starts with neither '# file:' nor '# in:': {header}"
        path, where, anchor = root / match[1], match[2], match[4]
        lines = path.read_text().splitlines(keepends=True)
        at = [i for i, line in enumerate(lines) if line.startswith(anchor)]
        assert len(at) == 1, f"{match[1]} has {len(at)} lines starting with {anchor!r}"
        i = at[0] + (where == "below")
        gap = "\n\n" if where == "above" else ""  # two blank lines before the next section
        path.write_text("".join(lines[:i]) + body + gap + "".join(lines[i:]))


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The package (with its configs where the installed package has them) and the suite,
    with the walk-through applied."""
    root = tmp_path_factory.mktemp("contributing")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "al_cli", root / "al_cli", ignore=ignore)
    shutil.copytree(ROOT / "configs", root / "al_cli" / "configs", ignore=ignore)
    shutil.copytree(ROOT / "tests", root / "tests", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", root)
    apply(walkthrough()[0], root)
    return root


def test_the_walkthrough_has_its_steps():
    blocks, commands = walkthrough()
    headers = [h for h, _ in blocks]
    assert any(h.startswith("# file: al_cli/strategies/") for h in headers)
    assert any(h.startswith("# file: configs/strategy/") for h in headers)
    assert sum(h.startswith("# in: al_cli/config.py") for h in headers) == 2
    assert [c[0] for c in commands] == ["al", "pytest"]


def test_the_new_strategy_runs_through_al(copy: Path):
    (command, _) = walkthrough()[1]
    out = run_al(*command[1:], "device=cpu", cwd=copy, env={"PYTHONPATH": str(copy)})
    assert out.returncode == 0, out.stderr
    (run,) = (copy / "results" / "digits" / "mlp").glob("density-*/seed0")
    curve = read_csv(run / "learning_curve.csv")
    assert [int(r["n_labeled"]) for r in curve] == [20, 40, 60]
    assert {r["acquisition"] for r in curve} == {"information_density"}
    assert all(0 < float(r["mean_density"]) <= 1 for r in curve[:-1])
    queries = [q for q in read_csv(run / "queries.csv") if q["round"] != "0"]
    assert len(queries) == 40 and all(float(q["score"]) >= 0 for q in queries)
    # the schema step: a mistyped value of the new key is one line, before anything runs
    bad = run_al(*command[1:], "strategy.beta=high", cwd=copy, env={"PYTHONPATH": str(copy)})
    one_line_error(bad, "strategy.beta")


def test_the_conformance_test_picks_the_new_strategy_up(copy: Path):
    (_, command) = walkthrough()[1]
    out = subprocess.run(
        [sys.executable, "-m", *command, "-q", "-p", "no:cacheprovider"],
        cwd=copy,
        env={**os.environ, "PYTHONPATH": str(copy)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert re.search(r"\b[1-9]\d* passed", out.stdout), out.stdout[-2000:]
