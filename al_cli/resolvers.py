"""The config's resolvers: ``al_hash`` and ``al_name`` name run folders, ``al_gpus`` sizes a
cluster job. Importing this module registers them, and the schemas with them.

They are not registered by ``al_cli.config`` itself: ``al_hash`` hashes what the schemas mark
as a run's identity (``results``) and ``al_name`` asks the file system how long a folder name
may be (``folders``), and both of those import the schemas, so config registering them would be
an import cycle. Import this module wherever a config is composed with its ``hydra`` node.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from al_cli.cluster import gpus_wanted
from al_cli.config import option_name
from al_cli.folders import name_max
from al_cli.results import config_hash, identity_hash

STRATEGY_SUFFIX = len(f"-{identity_hash({})}")
"""What follows the strategy's name in its folder's name: ``-<al_hash>``."""


def folder_name(group: str, root: DictConfig) -> str:
    """``al_name``: the option's name, refused unless it fits in a folder name on the file
    system of ``paths.results_dir`` (with room for ``-<al_hash>`` after the strategy's)."""
    room = name_max(root.paths.results_dir) - (STRATEGY_SUFFIX if group == "strategy" else 0)
    return option_name(root[group], group, room)


OmegaConf.register_new_resolver("al_hash", lambda *, _root_: config_hash(_root_), replace=True)
OmegaConf.register_new_resolver(
    "al_name", lambda group, *, _root_: folder_name(group, _root_), replace=True
)
OmegaConf.register_new_resolver("al_gpus", gpus_wanted, replace=True)
