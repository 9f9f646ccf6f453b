"""The packaged configs compose through the installed package, with typed schemas."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from importlib import resources

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from al_cli.config import GROUPS
from tests.conftest import compose_config


def test_defaults():
    cfg = compose_config()
    assert cfg.dataset.name == "digits" and cfg.model.name == "mlp"
    assert cfg.strategy.name == "random" and cfg.seed == 0 and cfg.device == "auto"
    assert cfg.budget.initial == 20 and cfg.model.dropout == 0.25
    assert cfg.dataset.split_seed == 0


@pytest.mark.parametrize("name", ["random", "least_confidence", "margin", "entropy"])
def test_each_strategy_composes(name):
    cfg = compose_config(f"strategy={name}")
    assert cfg.strategy.name == name


def test_unknown_key_and_wrong_type_fail_at_composition():
    with pytest.raises((ConfigCompositionException, ConfigKeyError)):
        compose_config("budget.bogus=1")
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose_config("budget.query_size=many")


PARTS = [
    (group, path.name.removesuffix(".yaml"))
    for group in GROUPS
    for path in sorted(resources.files("al_cli.configs").joinpath(group).iterdir())
    if path.name.endswith(".yaml")
]
"""Every shipped option of the groups built from ``_target_``."""


def schema_default(node: object, key: str) -> object:
    """The option's schema's own default for ``key`` (``MISSING`` where the YAML must set it)."""
    for f in dataclasses.fields(OmegaConf.get_type(node)):
        if f.name == key:
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            return f.default
    return MISSING


@pytest.mark.parametrize(("group", "name"), PARTS, ids=[f"{g}={n}" for g, n in PARTS])
def test_constructor_defaults_are_the_yaml_values(group: str, name: str):
    """A key is written in the option's YAML (what runs use), its schema and, as a default, in
    the constructor: that default must be the YAML's value, or, in a constructor that several
    options share (torchvision sets' ``mean``), the schema's own default. Calling a part
    directly then builds what ``al run`` builds (digits' ``scaling`` once had three)."""
    node = compose_config(f"{group}={name}")[group]
    module, _, attr = node._target_.rpartition(".")
    parameters = inspect.signature(getattr(importlib.import_module(module), attr)).parameters
    for key, value in OmegaConf.to_container(node, resolve=True).items():
        default = getattr(parameters.get(key), "default", inspect.Parameter.empty)
        if default is inspect.Parameter.empty:
            continue
        default = list(default) if isinstance(default, tuple) else default
        assert default in (value, schema_default(node, key)), f"{group}.{key}: {default!r}"
