"""The ``al`` console script: ``al run`` is the Hydra app, ``al plot`` is plain argparse.

Nothing heavy is imported here, so ``al --help`` and ``al plot`` start fast.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from al_cli import __version__
from al_cli.errors import refuse

USAGE = """usage: al [--version] [--help] <command> [args]

Active learning experiments from the command line.

commands:
  run     run an experiment (a Hydra app: overrides, -m, --cfg, --help all work)
          e.g.  al run strategy=entropy budget.query_size=20 seed=3
  plot    learning curves and a comparison table from a results folder
          e.g.  al plot results/
  migrate move run folders made by an earlier al to where this version looks
          e.g.  al migrate results/

'al run --help' lists the config groups and their options.
"""


def composition_error(err: BaseException) -> str | None:
    """A mistake in the overrides or config files, found while Hydra composes the config, as
    one line; None for anything else (a job's own error, a bug)."""
    from hydra.errors import ConfigCompositionException, OverrideParseException
    from omegaconf.errors import (
        ConfigAttributeError,
        ConfigKeyError,
        OmegaConfBaseException,
        ValidationError,
    )

    if not isinstance(err, (ConfigCompositionException, OverrideParseException)):
        if not isinstance(err, OmegaConfBaseException):
            return None
    tb = err.__traceback__
    while tb is not None:  # raised inside a job (Hydra's run_job): not a composition error
        if tb.tb_frame.f_code.co_name == "run_job":
            return None
        tb = tb.tb_next
    cause = err.__cause__
    key = getattr(cause, "full_key", None)
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and key:
        return unknown_key(str(key), getattr(cause, "object_type", None))
    if isinstance(cause, ValidationError) and key:
        return f"{key}: {str(cause.msg).splitlines()[0]}"
    text = str(err).split("Config search path")[0]  # a missing option: keep its choices
    if "Available options" in text:
        head, options = text.split("Available options", 1)
        name, _, listed = options.partition(":")
        return f"{' '.join(head.split())} Available options{name}: {', '.join(listed.split())}"
    parts = [text] + ([str(cause)] if cause is not None else [])
    return " ".join(" ".join(parts).split())


def unknown_key(key: str, schema: Any) -> str:
    """The refusal of a key that the chosen option does not have, naming the keys it has."""
    from al_cli.config import MOVED

    if key in MOVED:
        return f"{key} is not a strategy key: {MOVED[key]}"
    group = key.split(".")[0]
    fields = getattr(schema, "__dataclass_fields__", None)
    have = f"; its keys are {', '.join(fields)}" if fields else ""
    return (
        f"{key} is not a key of the chosen {group} option{have}. Check the spelling, or "
        f"choose an option that has it (al run --help lists the options)"
    )


def run_hydra_app() -> None:
    """``app.main()``, with composition errors shown as one line and exit status 2."""
    from hydra._internal import utils as hydra_utils

    from al_cli import app
    from al_cli.errors import user_error_in

    original = hydra_utils.run_and_report

    def run_and_report(func: Any) -> Any:
        try:
            return func()
        except Exception as err:
            # raised while naming a run folder (al_name); a failed sweep job said its own line
            error = None if isinstance(err, app.JobFailed) else user_error_in(err)
            line = str(error) if error is not None else composition_error(err)
            if line is None:
                return original(functools.partial(_raise, err))
            refuse("al run", line)

    hydra_utils.run_and_report = run_and_report
    try:
        app.main()
    finally:
        hydra_utils.run_and_report = original


def _raise(err: BaseException) -> None:
    raise err


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, end="")
        sys.exit(0 if args else 2)
    if args[0] in ("-V", "--version"):
        print(f"al {__version__}")
        return
    command, rest = args[0], args[1:]
    if command == "run":
        if "--version" in rest:
            print(f"al {__version__}")
            return
        from al_cli import completion

        status = completion.answer(rest)
        if status is not None:
            sys.exit(status)
        sys.argv = [f"{sys.argv[0]} run", *rest]
        run_hydra_app()
    elif command == "plot":
        from al_cli import plot

        sys.exit(plot.main(rest))
    elif command == "migrate":
        from al_cli import migrate

        sys.exit(migrate.main(rest))
    else:
        refuse("al", f"unknown command {command!r}; choose run, plot or migrate (see al --help)")
