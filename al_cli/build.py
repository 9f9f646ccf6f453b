"""From an option's config to the object it names: ``_target_`` with its keys as arguments.

Every option of the dataset, model, posterior and strategy groups names a class or function in
``_target_``; its other keys (all but ``name`` and ``_target_``) are its keyword arguments, so a
user's own option under ``--config-dir`` can carry keys of its own. Before anything is called,
the target must be what its group builds: a class derived from the group's base (``nn.Module``
for models, ``Posterior``, ``Strategy``; every abstract method implemented) or a function marked
as a data loader. So a shared YAML
naming ``subprocess.run`` is refused in one line, never run.
"""

from __future__ import annotations

import inspect
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf

from al_cli.config import option_name
from al_cli.errors import UserError


def option_kwargs(cfg: DictConfig, omit: tuple[str, ...] = ()) -> dict[str, Any]:
    """The option's keys as plain Python values, without ``name``, ``_target_`` and ``omit``
    (keys al reads itself, as ``dataset.val_size``)."""
    keys = OmegaConf.to_container(cfg, resolve=True)
    return {k: v for k, v in keys.items() if k not in ("name", "_target_", *omit)}


def import_target(cfg: DictConfig, group: str) -> Any:
    """The object named by ``<group>._target_``; one clear line when it cannot be imported."""
    target = cfg.get("_target_")
    if not target:
        raise UserError(
            f"{group}={option_name(cfg, group)} has no _target_; name the class or function "
            f"that builds it (e.g. {group}._target_=mypackage.module.Name)"
        )
    try:
        return get_object(str(target))
    except Exception as err:
        cause = err.__cause__ or err
        raise UserError(
            f"{group}._target_={target!r} cannot be imported ({type(cause).__name__}: "
            f"{' '.join(str(cause).split())}); check the name and that its package is importable"
        ) from None


def target_class(cfg: DictConfig, group: str, base: type, what: str) -> type:
    """The class named by ``<group>._target_``, which must derive from ``base``."""
    obj = import_target(cfg, group)
    if not (isinstance(obj, type) and base in obj.__mro__):
        raise UserError(
            f"{group}._target_={cfg._target_!r} is not {what}; name a class derived from "
            f"{base.__module__}.{base.__qualname__}"
        )
    missing = sorted(getattr(obj, "__abstractmethods__", ()))
    if missing:
        raise UserError(
            f"{group}._target_={cfg._target_!r} does not implement {', '.join(missing)}, which "
            f"{base.__module__}.{base.__qualname__} requires; define them in the class (a "
            f"strategy implements choose(ctx, candidates, k), not select, since 2026-12-05: "
            f"docs/how-to/extending.md)"
        )
    return obj


def check_signature(
    fn: Any, group: str, cfg: DictConfig, *args: Any, omit: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The option's keys (but ``omit``), once it is sure that ``fn(*args, **keys)`` takes
    exactly them."""
    kwargs = option_kwargs(cfg, omit)
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as err:
        keys = ", ".join(f"{group}.{k}" for k in kwargs) or "none"
        raise UserError(
            f"{group}={option_name(cfg, group)}: {getattr(fn, '__qualname__', fn)} does not take "
            f"the option's keys ({err}; keys given: {keys}); make its YAML and its arguments agree"
        ) from None
    return kwargs


def call(fn: Any, group: str, cfg: DictConfig, *args: Any, omit: tuple[str, ...] = ()) -> Any:
    """``fn(*args, **keys)``, after checking that ``fn`` takes exactly the option's keys (but
    ``omit``)."""
    return fn(*args, **check_signature(fn, group, cfg, *args, omit=omit))
