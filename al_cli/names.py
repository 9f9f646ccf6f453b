"""The names options file and plot their runs under: an option's ``name`` (or its class's),
refused unless it can be one component of a folder path. Apart from the schemas in
``al_cli.config``, which re-exports these, so that the schemas module stays one reading long."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from al_cli.errors import UserError

NAME_MAX = 255
"""Bytes in one folder name on common file systems (ext4, XFS, APFS, NTFS): the limit where
``os.pathconf`` cannot say."""


def option_name(node: Any, group: str, room: int = NAME_MAX) -> str:
    """The name an option files and plots its runs under: its ``name`` when it sets one, else
    the last part of its ``_target_`` (a custom option never inherits another's name). An
    empty ``name`` is refused, not replaced: it was set, so the user meant one. ``room``: the
    bytes its folder name may take (see ``check_name``)."""
    name = None if OmegaConf.is_missing(node, "name") else node.get("name")
    if name is None:
        target = None if OmegaConf.is_missing(node, "_target_") else node.get("_target_")
        if not target:
            raise UserError(
                f"{group} has neither a name nor a _target_; set {group}._target_ to the class "
                f"or function that builds it"
            )
        name = str(target).rsplit(".", 1)[-1]
    return check_name(str(name), group, room)


def check_name(name: str, group: str, room: int = NAME_MAX) -> str:
    """``name`` if it can be one component of a folder path: not empty, not ``.`` or ``..``, no
    path separator, no control character, and at most ``room`` bytes in UTF-8 (run folders
    are named by option names; a longer one fails in the middle of making the folder)."""
    if name in ("", ".", "..") or "/" in name or "\\" in name or not name.isprintable():
        raise UserError(
            f"{group}.name={name!r} cannot name a run folder; use a name without '/', '\\' or "
            f"control characters that is not empty, '.' or '..'"
        )
    size = len(name.encode())
    if size > room:
        shown = name if len(name) <= 40 else f"{name[:40]}..."
        raise UserError(
            f"{group}.name={shown!r} is {size} bytes long and cannot name a run folder (at "
            f"most {room} bytes here); choose a shorter {group}.name"
        )
    return name
