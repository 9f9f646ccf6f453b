"""A run's identity: the folder a command files its run under, and what the hash covers.

The golden table pins the folder of representative commands. Adding an option, or a key to
another option, must never move these folders, or finished runs would no longer be skipped
and unfinished ones no longer resumed after an upgrade. Where a default changes on purpose,
regenerate the table in one commit that says why (and tell users to run ``al migrate``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

import al_cli.resolvers  # noqa: F401  (registers the al_hash and al_name resolvers)
from al_cli import identity, results
from al_cli.identity import as_text, flatten
from al_cli.plot.runs import config_id, flat_settings
from al_cli.results import config_difference, config_hash, identity_config, plain
from tests.conftest import FAST, heavy_imports, run_al

GOLDEN = [
    ([], "digits/mlp/random-4c29120c/seed0"),
    (["strategy=entropy"], "digits/mlp/entropy-353314b9/seed0"),
    (["strategy=margin", "seed=3"], "digits/mlp/margin-62e41703/seed3"),
    (["strategy=bald"], "digits/mlp/bald-94a9aa97/seed0"),
    (["strategy=mc_dropout", "posterior.samples=50"], "digits/mlp/mc_dropout-f3eb4f60/seed0"),
    (["strategy=batchbald"], "digits/mlp/batchbald-c8528090/seed0"),
    (["strategy=qbc"], "digits/mlp/qbc-e57db5b5/seed0"),
    (["strategy=coreset"], "digits/mlp/coreset-202a83c3/seed0"),
    (["strategy=eer"], "digits/mlp/eer-2ab0f98c/seed0"),
    (["strategy=entropy", "posterior=deep_ensemble"], "digits/mlp/entropy-0e93e095/seed0"),
    (
        ["dataset=synthetic", "strategy=badge", "budget.query_size=10"],
        "synthetic/mlp/badge-a33ef9ca/seed0",
    ),
    (
        ["dataset=npz", "dataset.path=data/x.npz", "model=cnn", "strategy=bald"],
        "npz/cnn/bald-8545fdb7/seed0",
    ),
    (
        ["dataset=cifar10", "model=resnet18", "strategy=kmeans", "dataset.augment=true"],
        "cifar10/resnet18/kmeans-ad9a0e1c/seed0",
    ),
    # the authors' code, and the shipped preset: the peer's training and T=20 since issue 18
    # (its shared-mask, Keras-trained runs are the code's with shared masks: bald-04bea86a)
    (["+experiment=gal2017_keras", "strategy=bald"], "mnist/cnn/bald-f01f7727/seed0"),
    (
        ["+experiment=gal2017_keras", "strategy=bald", "posterior.consistent_masks=true"],
        "mnist/cnn/bald-04bea86a/seed0",
    ),
    (["+experiment=gal2017_mnist", "strategy=bald"], "mnist/cnn/bald-ce024434/seed0"),
    (["trainer.lr=0.01", "trainer.epochs=20"], "digits/mlp/random-0779f5dd/seed0"),
]


def run_dir(*overrides: str) -> str:
    with initialize_config_module(config_module="al_cli.configs", version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides), return_hydra_config=True)
        return str(cfg.hydra.run.dir)


@pytest.mark.parametrize(("overrides", "folder"), GOLDEN, ids=[f for _, f in GOLDEN])
def test_golden_run_folders(monkeypatch, overrides: list[str], folder: str):
    monkeypatch.delenv("AL_DATA_DIR", raising=False)
    assert run_dir(*overrides) == f"results/{folder}"


def test_what_never_changes_results_leaves_the_folder_alone(monkeypatch, tmp_path: Path):
    base = run_dir("dataset=mnist", "model=cnn")
    for extra in (
        ["seed=5"],
        ["paths.results_dir=results", "resume=false", "deterministic=true"],
        [f"paths.data_dir={tmp_path}"],  # where the data lie
        ["dataset.download=false"],
    ):
        assert run_dir("dataset=mnist", "model=cnn", *extra).replace("seed5", "seed0") == base
    monkeypatch.setenv("AL_DATA_DIR", str(tmp_path))
    assert run_dir("dataset=mnist", "model=cnn") == base
    assert run_dir("dataset=mnist", "model=cnn", "trainer.lr=0.1") != base


def test_a_key_added_later_moves_no_folder_until_it_is_set():
    """``trainer.l2_per_label``, ``trainer.l2_scope``, ``trainer.last_batch``,
    ``trainer.sampling`` and ``model.init`` came after runs were filed: at the values that
    reproduce the old behaviour they stay out of the hash, any other
    value moves it."""
    for base, key, other in (
        (["dataset=mnist", "model=cnn"], "trainer.l2_per_label", "3.5"),
        (["dataset=mnist", "model=cnn"], "model.init", "glorot"),
        (["dataset=mnist", "model=cnn"], "trainer.l2_scope", "all"),
        (["dataset=mnist", "model=cnn"], "trainer.last_batch", "drop"),
        (["dataset=mnist", "model=cnn"], "trainer.sampling", "replacement"),
    ):
        folder = run_dir(*base)
        neutral = {
            "trainer.l2_per_label": "0.0",
            "model.init": "torch",
            "trainer.l2_scope": "hidden",
            "trainer.last_batch": "keep",
            "trainer.sampling": "epochs",
        }[key]
        assert run_dir(*base, f"{key}={neutral}") == folder
        assert run_dir(*base, f"{key}={other}") != folder
    # digits' per-pixel scaling, the old behaviour, is no longer the default: its runs keep
    # their old folders, today's default gets new ones
    assert run_dir("dataset.scaling=feature", "trainer.min_steps=100") == (
        "results/digits/mlp/random-e5964e15/seed0"
    )


def test_identity_holds_only_the_chosen_options_keys():
    from tests.conftest import compose_config

    identity = identity_config(compose_config("strategy=entropy"))
    assert identity["posterior"] == {
        "name": "deterministic",
        "_target_": "al_cli.posteriors.deterministic.Deterministic",
    }
    assert set(identity["strategy"]) == {
        "name", "_target_", "acquisition", "selection", "temperature", "candidates"
    }  # fmt: skip
    assert set(identity) == {
        "seed", "device", "dataset", "model", "posterior", "strategy", "budget", "trainer"
    }  # fmt: skip


def test_run_json_records_the_folder_hash(tmp_path: Path):
    out = run_al("run", *FAST, "strategy=margin", f"paths.results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    (info,) = tmp_path.rglob("run.json")
    folder = info.parent.parent.name  # margin-<hash>
    assert json.loads(info.read_text())["config_hash"] == folder.split("-")[-1]


# ---------------------------------------------------------------- the identity module


def test_al_run_and_al_plot_hash_alike(monkeypatch):
    """One hash: a run.json config that holds only identity keys gets the folder's hash from
    ``al plot``'s ``config_id`` (an older run.json has no ``config_hash`` to read)."""
    from tests.conftest import compose_config

    monkeypatch.delenv("AL_DATA_DIR", raising=False)
    assert results.identity_hash is identity.identity_hash
    for overrides in (["strategy=entropy"], ["strategy=bald", "seed=3"], ["dataset=mnist"]):
        cfg = compose_config(*overrides)
        kept = plain(identity_config(cfg))
        assert config_id({**kept, "paths": {"x": 1}, "resume": False}) == config_hash(cfg)
    legacy = {"seed": 1, "trainer": {"lr": 0.1}, "hydra": {"run": 1}, "threads": 2}
    assert config_id(legacy) == identity.identity_hash({"trainer": {"lr": 0.1}})


CONFIG = {
    "seed": 2,
    "paths": {"results_dir": "r"},
    "a": {"b": 1, "c": [1, 2], "g": [{"z": 1, "y": 2}]},
    "d": "x",
    "e": None,
    "f": {},
}


def test_each_caller_flattens_as_before():
    """MLflow params (text, keys in their order), al plot's settings (text, mappings in lists
    sorted, bookkeeping and seed left out) and a checkpoint's difference (values; an empty
    mapping is no setting) all come from ``identity.flatten``."""
    assert flatten(CONFIG, as_text) == {
        "seed": "2",
        "paths.results_dir": "r",
        "a.b": "1",
        "a.c": "[1, 2]",
        "a.g": '[{"z": 1, "y": 2}]',
        "d": "x",
        "e": "null",
        "f": "{}",
    }
    assert flat_settings(CONFIG) == {
        "a.b": "1",
        "a.c": "[1, 2]",
        "a.g": '[{"y": 2, "z": 1}]',
        "d": "x",
        "e": "null",
        "f": "{}",
    }
    assert flatten(CONFIG)["a.c"] == [1, 2] and flatten({}) == {"": {}}
    assert config_difference(CONFIG, {**CONFIG, "f": {"h": 1}}) == (
        "f.h is '<unset>' there and 1 here"
    )
    assert config_difference(CONFIG, {**CONFIG, "a": {**CONFIG["a"], "b": 2}}) == (
        "a.b is 1 there and 2 here"
    )


def test_the_identity_module_imports_neither_torch_nor_omegaconf():
    """``al plot`` hashes and flattens through it and must start without them."""
    assert heavy_imports("al_cli.identity", ("torch", "omegaconf", "hydra", "numpy")) == []


def test_moved_keys_are_refused_by_the_renamed_table():
    """``config.MOVED`` names every key ``identity.RENAMED`` moved, where it lives now."""
    from al_cli.config import MOVED

    for (group, key), (old_group, old_key) in identity.RENAMED.items():
        assert f" {group}.{key}, with " in MOVED[f"{old_group}.{old_key}"]
    assert set(MOVED) == {"strategy.posterior"} | {".".join(o) for o in identity.RENAMED.values()}
