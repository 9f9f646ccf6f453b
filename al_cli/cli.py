"""The ``al`` console script: ``al run`` is the Hydra app, ``al plot`` is plain argparse.

Nothing heavy is imported here, so ``al --help`` and ``al plot`` start fast.
"""

from __future__ import annotations

import sys

from al_cli import __version__

USAGE = """usage: al [--version] [--help] <command> [args]

Active learning experiments from the command line.

commands:
  run     run an experiment (a Hydra app: overrides, -m, --cfg, --help all work)
          e.g.  al run strategy=entropy budget.query_size=20 seed=3
  plot    learning curves and a comparison table from a results folder
          e.g.  al plot results/

'al run --help' lists the config groups and their options.
"""


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
        from al_cli import app

        sys.argv = [f"{sys.argv[0]} run", *rest]
        app.main()
    elif command == "plot":
        from al_cli import plot

        sys.exit(plot.main(rest))
    else:
        print(
            f"al: error: unknown command {command!r}; choose run or plot (see al --help)",
            file=sys.stderr,
        )
        sys.exit(2)
