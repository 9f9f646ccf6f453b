"""The walk-through of the "Extend al" page (docs/how-to/extending.md), run as written from a
temporary user package: a data set, a model, a posterior and a strategy of the user's own,
found through --config-dir and built from their _target_ with their own keys."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from tests.conftest import read_csv, run_al

PAGE = Path(__file__).parent.parent / "docs" / "how-to" / "extending.md"


def walkthrough() -> tuple[dict[str, str], list[str]]:
    """The files of the page's "A walk-through" section (fenced blocks starting
    ``# file: PATH``) and the arguments of its ``al run`` command."""
    text = PAGE.read_text()
    assert "\n## A walk-through\n" in text, f"{PAGE.name} has no walk-through section"
    section = text.split("\n## A walk-through\n", 1)[1].split("\n## ", 1)[0]
    files, command = {}, None
    for block in re.findall(r"```\w*\n(.*?)```", section, flags=re.S):
        first, _, body = block.partition("\n")
        if first.startswith("# file: "):
            files[first.removeprefix("# file: ").strip()] = body
        elif "al run" in block:
            command = shlex.split(block.replace("\\\n", " "))
    assert files and command, "the walk-through has files and a command"
    assert command[:3] == ["PYTHONPATH=.", "al", "run"]
    return files, command[3:]


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("user")
    files, _ = walkthrough()
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(body)
    return root


def al(package: Path, *args: str):
    return run_al(*args, cwd=package, env={"PYTHONPATH": str(package)})


def test_the_walkthrough_runs_as_written(package: Path):
    _, args = walkthrough()
    out = al(package, "run", *args, "device=cpu")
    assert out.returncode == 0, out.stderr
    (run,) = (package / "results" / "blobs" / "WideNet").glob("ratio-*/seed0")
    curve = read_csv(run / "learning_curve.csv")
    assert [int(r["n_labeled"]) for r in curve] == [8, 16, 24, 32, 40]
    assert {(r["dataset"], r["model"], r["posterior"], r["strategy"]) for r in curve} == {
        ("blobs", "WideNet", "tempered", "ratio")
    }
    assert (
        all(0 < float(r["mean_ratio"]) <= 1 for r in curve[:-1]) and curve[-1]["mean_ratio"] == ""
    )
    queries = read_csv(run / "queries.csv")
    assert all(0 < float(q["score"]) <= 1 for q in queries if q["round"] != "0")
    job = al(package, "run", "--config-dir", "conf", "model=wide", "--cfg", "job")
    assert "width: 256" in job.stdout and "filters" not in job.stdout


def test_a_part_without_what_the_strategy_needs_is_refused_before_anything(package: Path):
    (package / "mylab" / "plain.py").write_text(
        "from torch import nn\n\n\n"
        "class Plain(nn.Module):\n"
        "    def __init__(self, input_shape, num_classes):\n"
        "        super().__init__()\n"
        "        self.net = nn.Linear(input_shape[0], num_classes)\n\n"
        "    def forward(self, x):\n"
        "        return self.net(x)\n"
    )
    (package / "conf" / "model" / "plain.yaml").write_text("_target_: mylab.plain.Plain\n")
    results = package / "refused"
    for strategy, need in (("badge", "penultimate embeddings"), ("bald", "has no nn.Dropout")):
        out = al(
            package, "run", "--config-dir", "conf", "dataset=blobs", "model=plain",
            f"strategy={strategy}", f"paths.results_dir={results}",
        )  # fmt: skip
        lines = [line for line in out.stderr.splitlines() if line.strip()]
        assert out.returncode == 2 and len(lines) == 1 and need in lines[0], out.stderr
        assert not results.exists()
    out = al(
        package, "run", "--config-dir", "conf", "dataset=blobs", "model=plain",
        "budget.max_labels=20", "device=cpu", f"paths.results_dir={results}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr  # random sampling needs nothing of the model
    assert list(results.glob("blobs/Plain/random-*/seed0/learning_curve.csv"))


def test_a_user_key_the_target_does_not_take_is_one_line(package: Path):
    out = al(package, "run", "--config-dir", "conf", "dataset=blobs", "+dataset.noise=3")
    assert out.returncode == 2 and "dataset.noise" in out.stderr and "Traceback" not in out.stderr
    assert os.listdir(package) and not (package / "results" / "blobs" / "mlp").exists()
