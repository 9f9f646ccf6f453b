"""The packaged configs compose through the installed package, with typed schemas."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

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
