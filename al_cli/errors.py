"""The one exception for mistakes a user can fix, and the shape of its most common message.

``al run`` turns a ``UserError`` into one line on stderr and exit status 2 (in a sweep, the job
fails alone); anything else is a bug and keeps its traceback. A user error need not come from
the config: a diverged loss, a full disk or a lack of memory are user errors too.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import NoReturn


class UserError(Exception):
    """A mistake the user can fix (a setting, a file, the machine); shown as one line."""


def unknown(key: str, value: object, choices: Iterable[str]) -> NoReturn:
    """Raise the standard refusal for a value that is not one of ``choices``."""
    raise UserError(f"{key}={value!r} is not known; choose one of {', '.join(sorted(choices))}")


def check_choice(key: str, value: object, choices: Iterable[str]) -> None:
    """Refuse ``value`` unless it is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        unknown(key, value, choices)


def user_error_in(err: BaseException) -> UserError | None:
    """The UserError that ``err`` is or was raised from (e.g. inside a config resolver, which
    OmegaConf wraps in its own exception, hiding the cause with ``from None``), or None."""
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, UserError):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def announce(prefix: str, message: object) -> str:
    """Print ``PREFIX: error: MESSAGE`` on stderr, flushed (an exit or a sweep's summary comes
    next), and return that line."""
    line = f"{prefix}: error: {message}"
    print(line, file=sys.stderr, flush=True)
    return line


def refuse(prefix: str, message: object) -> NoReturn:
    """The refusal of a mistake the user can fix: one line on stderr and exit status 2. Used
    where a UserError cannot be raised (outside a task function Hydra would print its
    traceback), and where the task function turns one into its exit."""
    announce(prefix, message)
    sys.exit(2)
