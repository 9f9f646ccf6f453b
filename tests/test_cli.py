"""``al`` through the real console script: runs, output files, help, and bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from al_cli.errors import UserError
from al_cli.files import CURVE_COLUMNS, QUERY_COLUMNS
from al_cli.loop import Budget
from al_cli.setup import check_budget_fits, setup
from tests.conftest import (
    FAST,
    compose_config,
    one_line_error,
    read_csv,
    refused,
    run_al,
    run_info,
    without_timing,
)


def test_version_and_help():
    out = run_al("--version")
    assert out.returncode == 0 and out.stdout.startswith("al ")
    out = run_al("--help")
    assert out.returncode == 0 and "run" in out.stdout and "plot" in out.stdout
    out = run_al("frobnicate")
    assert out.returncode == 2 and "unknown command" in out.stderr


def test_run_help_lists_groups():
    """It opens with what al run does, then its groups and options, then three examples, and
    only then Hydra's own flags (not Hydra's generic "app is powered by Hydra")."""
    out = run_al("run", "--help")
    assert out.returncode == 0
    assert out.stdout.startswith("al run: one active learning experiment")
    assert "powered by Hydra." not in out.stdout
    for group in ("dataset:", "model:", "strategy:", "budget:", "trainer:"):
        assert group in out.stdout
    assert "entropy" in out.stdout and "synthetic" in out.stdout
    assert "schema" not in out.stdout
    text = out.stdout
    order = [text.index(s) for s in ("== Config groups", "== Examples", "== Hydra's flags")]
    assert order == sorted(order) and text.index("strategy: ") < order[1]
    examples = text[order[1] : order[2]].splitlines()[1:]
    commands = [line.split("#")[0].split()[2:] for line in examples if line.startswith("al run ")]
    assert len(commands) == 3 and commands[2][0] == "-m"
    for overrides in commands[:2]:  # they compose (the sweep's values are checked elsewhere)
        compose_config(*overrides)
    assert text.index("--multirun,-m") > order[2]


def test_cfg_job_prints_composed_config():
    out = run_al("run", "strategy=margin", "budget.query_size=7", "--cfg", "job")
    assert out.returncode == 0
    assert "name: margin" in out.stdout and "query_size: 7" in out.stdout


def test_run_end_to_end(tmp_path: Path):
    out = run_al("run", *FAST, "strategy=entropy", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    assert "round   3" in out.stdout and "Traceback" not in out.stderr
    curve = read_csv(tmp_path / "learning_curve.csv")
    assert list(curve[0]) == CURVE_COLUMNS
    assert [int(r["n_labeled"]) for r in curve] == [10, 20, 30, 40]
    assert [int(r["round"]) for r in curve] == [0, 1, 2, 3]
    assert {r["strategy"] for r in curve} == {"entropy"}
    assert all(0.0 <= float(r["test_accuracy"]) <= 1.0 for r in curve)
    assert all(int(r["train_steps"]) > 0 and float(r["train_loss"]) >= 0 for r in curve)
    queries = read_csv(tmp_path / "queries.csv")
    assert list(queries[0]) == QUERY_COLUMNS
    assert len(queries) == 40 and len({q["pool_index"] for q in queries}) == 40
    assert [int(q["round"]) for q in queries] == [0] * 10 + [1] * 10 + [2] * 10 + [3] * 10
    info = run_info(tmp_path)
    assert info["status"] == "finished"
    assert info["config"]["strategy"]["name"] == "entropy"
    assert info["versions"]["torch"] and info["torch_threads"] >= 1
    assert (tmp_path / ".hydra" / "config.yaml").exists()


def test_last_round_may_query_fewer(tmp_path: Path):
    out = run_al("run", *FAST, "budget.max_labels=35", f"hydra.run.dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    curve = read_csv(tmp_path / "learning_curve.csv")
    assert [int(r["n_labeled"]) for r in curve] == [10, 20, 30, 35]


def test_seeded_runs_are_identical(tmp_path: Path):
    for name in ("a", "b"):
        out = run_al("run", *FAST, "strategy=margin", "seed=3", f"hydra.run.dir={tmp_path / name}")
        assert out.returncode == 0, out.stderr
    a, b = (read_csv(tmp_path / n / "learning_curve.csv") for n in ("a", "b"))
    assert without_timing(a) == without_timing(b)
    assert read_csv(tmp_path / "a" / "queries.csv") == read_csv(tmp_path / "b" / "queries.csv")
    # another seed draws another initial set
    a, b = (setup(compose_config(*FAST, f"seed={s}")).initial for s in (3, 4))
    assert sorted(a.tolist()) != sorted(b.tolist())


def test_python_dash_m(tmp_path: Path):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "al_cli", "run", "strategy=margin", "--cfg", "job"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "name: margin" in out.stdout


def test_user_config_dir(tmp_path: Path):
    """A user's own strategy file, added with --config-dir, is selectable like ours."""
    (tmp_path / "conf" / "strategy").mkdir(parents=True)
    (tmp_path / "conf" / "strategy" / "my_margin.yaml").write_text(
        "name: my_margin\n_target_: al_cli.strategies.scoring.ScoringStrategy\n"
        "acquisition: margin\n"
    )
    out = run_al(
        "run",
        "--config-dir",
        str(tmp_path / "conf"),
        *FAST,
        "strategy=my_margin",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert out.returncode == 0, out.stderr
    assert read_csv(tmp_path / "run" / "learning_curve.csv")[0]["strategy"] == "my_margin"


FIVE_ROWS = Path(__file__).parent / "data" / "representation" / "five_rows.npz"
"""Features of 5 pool and 5 test rows ([5, 3] each): the wrong length for any data set here."""

BAD_INPUTS: dict[str, tuple[list[str], str]] = {
    # name (the test id): (overrides, what the one-line refusal names)
    "initial_above_max_labels": (["budget.initial=100000"], "budget.initial"),
    "query_size_0": (["budget.query_size=0"], "budget.query_size"),
    "query_size_negative": (["budget.query_size=-3"], "budget.query_size"),
    "max_labels_below_initial": (["budget.max_labels=5"], "budget.max_labels"),
    "initial_negative": (["budget.initial=-1"], "budget.initial=-1"),
    # a cold start with a strategy that needs a trained model (random, typiclust... need none)
    "initial_0_model_strategy": (["budget.initial=0", "strategy=entropy"], "budget.initial>0"),
    "balanced_initial_below_classes": (
        ["budget.initial_balanced=true", "budget.initial=2"],
        "budget.initial_balanced",
    ),
    "negative_lr": (["trainer.lr=-1"], "trainer.lr"),
    "unknown_optimizer": (["trainer.optimizer=lbfgs"], "trainer.optimizer"),
    "no_hidden_layer": (["model.hidden=[]"], "model.hidden"),
    "missing_cuda_device": (["device=cuda:7"], "device"),
    "bald_on_one_sample": (
        ["strategy=entropy", "strategy.acquisition=bald"],
        "several posterior samples",
    ),
    "unknown_acquisition": (
        ["strategy=entropy", "strategy.acquisition=nope"],
        "strategy.acquisition",
    ),
    "candidates_0": (["strategy=entropy", "strategy.candidates=0"], "strategy.candidates"),
    "probcover_delta_0": (["strategy=probcover", "strategy.delta=0"], "strategy.delta"),
    "probcover_delta_negative": (["strategy=probcover", "strategy.delta=-0.5"], "strategy.delta"),
    "epig_inconsistent_masks": (
        ["strategy=epig", "posterior.consistent_masks=false"],
        "posterior.consistent_masks=true",
    ),
    "epig_targets_0": (["strategy=epig", "strategy.targets=0"], "strategy.targets"),
    "test_fraction_above_1": (["dataset.test_fraction=1.5"], "dataset.test_fraction"),
    "negative_weight_decay": (["trainer.weight_decay=-1"], "trainer.weight_decay"),
    "negative_momentum": (["trainer.momentum=-5"], "trainer.momentum"),
    "negative_l2_per_label": (["trainer.l2_per_label=-1"], "trainer.l2_per_label"),
    "unknown_l2_scope": (["trainer.l2_scope=everything"], "trainer.l2_scope"),
    "unknown_last_batch": (["trainer.last_batch=last"], "trainer.last_batch"),
    "unknown_sampling": (["trainer.sampling=bootstrap"], "trainer.sampling"),
    # a budget the pool (225 inputs here) cannot meet: refused, not run until the pool is spent
    "budget_above_pool": (
        ["budget.query_size=1000000", "budget.max_labels=2000000"],
        "budget.max_labels=2000000",
    ),
    "space_representation_without_one": (
        ["strategy=coreset", "strategy.space=representation"],
        "set representation=pca",
    ),
    "unknown_space": (["strategy=kmeans", "strategy.space=pixels"], "strategy.space"),
    "pca_dim_0": (["representation=pca", "representation.dim=0"], "representation.dim"),
    # synthetic inputs have 10 values: pca's default dim (32) is more than they hold
    "pca_dim_above_inputs": (["representation=pca"], "representation.dim=32 exceeds"),
    "features_file_wrong_length": (
        ["representation=file", f"representation.path={FIVE_ROWS}"],
        "'pool' has shape (5, 3), but the data set has 225 pool inputs",
    ),
    "features_file_missing": (
        ["representation=file", "representation.path=nowhere.npz"],
        "representation.path=nowhere.npz is not a file",
    ),
    "features_file_unset": (["representation=file"], "representation.path is not set"),
    "val_size_negative": (["dataset.val_size=-1"], "dataset.val_size=-1"),
    # 225 pool inputs less 200 held out cannot give budget.max_labels=40
    "val_size_above_pool": (["dataset.val_size=200"], "lower dataset.val_size"),
    "select_on_val_without_val": (["trainer.select_on_val=true"], "dataset.val_size"),
    "val_every_0": (["dataset.val_size=10", "trainer.val_every=0"], "trainer.val_every"),
    "count_validation_spends_the_budget": (
        ["dataset.val_size=35", "budget.count_validation=true"],
        "budget.count_validation=true",
    ),
    "simclr_temperature_0": (
        ["representation=simclr", "representation.temperature=0"],
        "representation.temperature=0",
    ),
    "simclr_temperature_negative": (
        ["representation=simclr", "representation.temperature=-1"],
        "representation.temperature=-1",
    ),
    "simclr_image_shape_of_other_size": (
        ["representation=simclr", "representation.image_shape=[1,8,8]"],
        "representation.image_shape=[1, 8, 8] holds 64 values, but each input has 10",
    ),
    "head_without_a_representation": (["model=head"], "model=head trains on the run's"),
    # resnet18's weights are in no torch cache of the machines the tests run on
    "torchvision_weights_absent": (
        ["representation=torchvision"],
        "download https://download.pytorch.org/models/resnet18-f37072fd.pth",
    ),
}


def cases(table: dict[str, tuple], names: list[str] | None = None) -> list:
    """Rows of ``table`` (all, or those ``names`` picks) as pytest params, each with its name
    as id: inserting a row never changes what another test picks."""
    return [pytest.param(*table[name], id=name) for name in names or table]


@pytest.mark.parametrize(("overrides", "key"), cases(BAD_INPUTS))
def test_bad_input_is_refused_at_setup(overrides: list[str], key: str):
    """Every check, at the unit level: a UserError naming the key, before any file exists."""
    with pytest.raises(UserError, match=re.escape(key)):
        setup(compose_config(*FAST, *overrides))


CLI_BAD_INPUTS = [
    "initial_above_max_labels",
    "initial_0_model_strategy",
    "balanced_initial_below_classes",
    "missing_cuda_device",
    "bald_on_one_sample",
    "probcover_delta_0",
    "epig_inconsistent_masks",
    "epig_targets_0",
    "test_fraction_above_1",
    "negative_l2_per_label",
    "unknown_l2_scope",
    "budget_above_pool",
    "space_representation_without_one",
    "features_file_wrong_length",
    "val_size_negative",
    "val_size_above_pool",
    "select_on_val_without_val",
    "simclr_temperature_0",
    "head_without_a_representation",
]
"""The rows of ``BAD_INPUTS`` also tried through the real command, by name."""


@pytest.mark.parametrize(("overrides", "key"), cases(BAD_INPUTS, CLI_BAD_INPUTS))
def test_bad_input_one_clear_line(tmp_path: Path, overrides: list[str], key: str):
    """Through the real command: one line on stderr, exit 2, no traceback, no files."""
    out = run_al("run", *FAST, *overrides, f"hydra.run.dir={tmp_path}")
    one_line_error(out, key)
    assert not (tmp_path / "learning_curve.csv").exists()
    assert not (tmp_path / "queries.csv").exists()
    assert not (tmp_path / "run.json").exists()


def test_budget_must_fit_the_pool():
    """Up to the whole pool is a budget; one label more is refused, naming the key and size."""
    check_budget_fits(Budget(10, False, 500, 225), 225)
    for initial, max_labels, key in ((10, 226, "budget.max_labels=226"), (226, 300, "initial")):
        with pytest.raises(UserError, match=rf"{key}.* larger than the pool \(225 inputs\)"):
            check_budget_fits(Budget(initial, False, 10, max_labels), 225)


COMPOSITION_ERRORS: dict[str, tuple[list[str], list[str]]] = {
    # name (the test id): (overrides, words of the one-line refusal, the key first)
    "unknown_strategy": (["strategy=foo"], ["strategy", "entropy", "random", "mc_dropout"]),
    "unknown_posterior": (["posterior=foo"], ["posterior", "deterministic", "mc_dropout"]),
    "unknown_budget_key": (["budget.bogus=1"], ["budget.bogus"]),
    "query_size_not_a_number": (["budget.query_size=many"], ["budget.query_size"]),
    # a key that the chosen option does not read (each option has its own schema)
    "key_digits_lacks": (
        ["dataset=digits", "dataset.n_samples=5"],
        ["dataset.n_samples", "split_seed"],
    ),
    "samples_on_the_strategy": (
        ["strategy=entropy", "strategy.samples=100"],
        ["strategy.samples", "posterior.samples"],
    ),
    "key_mlp_lacks": (["model=mlp", "model.filters=8"], ["model.filters", "hidden"]),
    "acquisition_on_random": (
        ["strategy=random", "strategy.acquisition=entropy"],
        ["strategy.acquisition"],
    ),
    "posterior_on_the_strategy": (
        ["strategy=bald", "strategy.posterior=laplace"],
        ["strategy.posterior", "posterior=NAME"],
    ),
    "samples_of_a_deterministic_posterior": (
        ["strategy=entropy", "posterior.samples=5"],
        ["posterior.samples"],
    ),
}


@pytest.mark.parametrize(("overrides", "expect"), cases(COMPOSITION_ERRORS))
def test_composition_errors_are_one_line(overrides: list[str], expect: list[str]):
    """Refused while Hydra composes the config: the same line as ``al run`` prints."""
    for word in expect:
        assert word in refused(*FAST, *overrides, key=expect[0])


CLI_COMPOSITION_ERRORS = [
    "unknown_strategy",
    "key_digits_lacks",
    "samples_on_the_strategy",
    "key_mlp_lacks",
]
"""The rows of ``COMPOSITION_ERRORS`` also tried through the real command, by name."""


@pytest.mark.parametrize(("overrides", "expect"), cases(COMPOSITION_ERRORS, CLI_COMPOSITION_ERRORS))
def test_cli_composition_errors(tmp_path: Path, overrides: list[str], expect: list[str]):
    """Through the real command: one line naming the key, exit 2, no traceback, nothing written."""
    out = run_al("run", *FAST, *overrides, f"paths.results_dir={tmp_path / 'results'}")
    one_line_error(out, *expect)
    assert not (tmp_path / "results").exists()


def test_diverging_training_is_a_clear_error(tmp_path: Path):
    out = run_al(
        "run", *FAST, "trainer.lr=1e30", "trainer.optimizer=sgd", f"hydra.run.dir={tmp_path}"
    )
    one_line_error(out, "trainer.lr")
    info = run_info(tmp_path)
    assert info["status"] == "failed" and "trainer.lr" in info["error"]
