"""``al plot``: learning curves and a comparison table from the runs below some folders.

Plain argparse, pandas and matplotlib (Agg): nothing here imports torch or Hydra, so the
command starts in about a second. pandas and matplotlib are imported only once the arguments
are parsed, so ``--help`` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

from al_cli.plot.shared import BANDS, PlotError

FORMATS = ("png", "svg", "pdf")


class Interrupted(Exception):
    """Ctrl-C once the files were in place: shown as one line saying so, exit 130."""


NOT_WRITTEN = "interrupted; nothing written (--out is as it was)"
"""The line for Ctrl-C before the files were in place: they go to --out all at once."""


DESCRIPTION = """\
Learning curves and a comparison table from the runs below PATH(s).

Every learning_curve.csv below the given folders is read (single runs and multiruns alike, at
any depth). A line is one experiment: the runs whose configs (run.json) differ only in their
seed, on the same n_labeled grid; runs without a run.json are grouped by the CSV's dataset,
model, strategy, posterior, posterior_samples, acquisition and selection. Lines of one
strategy are named by the settings that differ between them ("random (trainer.lr=0.01)").
Runs whose grids differ are kept apart, with a warning; runs whose run.json status is not
'finished' are included and marked partial.

Writes one figure per dataset and model, <dataset>_<model>_<metric>.<format>, and
summary_<metric>.csv and summary_<metric>.md to --out, and prints the table: per line the
seeds, the final metric (mean ± std over seeds, ddof=1), the normalised area under the
learning curve (AUC: trapezoid area over n_labeled divided by the labeled range, in the
metric's units) and, with --target, the labels needed to first reach the target (median
[min, max] over seeds; a seed that never reaches it counts as more than the last n_labeled).
Lines are sorted by AUC; for test_nll, test_ece and *_seconds lower is better. A time metric
(*_seconds) is summed per run instead: its total, and a cumulative curve beside the per-round
one.

Against the baseline (random where there is a random line), every other line is paired by
seed with the baseline line that shares its other settings: the mean paired difference in AUC
and in the final metric with a 95% Student-t interval, p_value (two-sided Wilcoxon
signed-rank test on the AUC differences; "n too small" below 6 pairs, where no p can reach
0.05), and wins, ties, losses; and a second figure, <dataset>_<model>_<metric>_vs_<baseline>,
shows each line's paired difference against labels."""

EPILOG = """\
examples:
  al plot results/
  al plot results/ --target 0.9 --baseline random
  al plot results/ --metric test_nll --target 0.5 --out figures/ --format png,pdf
  al plot results/ --metric train_seconds --baseline none
  al plot results/ --group-by trainer.lr --band ci95"""


def formats(text: str) -> list[str]:
    chosen = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown format {','.join(unknown) or text!r}; use a comma-separated list of "
            f"{', '.join(FORMATS)}"
        )
    return list(dict.fromkeys(chosen))


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line (``al plot: error: ...``) and exit 2, without the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see al plot --help)\n")


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="al plot",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="results folders or learning curves"
    )
    p.add_argument(
        "--metric",
        default="test_accuracy",
        help="the learning_curve.csv column to plot (default: test_accuracy; also test_nll, "
        "test_ece, train_seconds, ...)",
    )
    p.add_argument(
        "--x",
        choices=["n_labeled", "round"],
        default="n_labeled",
        help="the x axis (default: n_labeled)",
    )
    p.add_argument(
        "--band",
        choices=list(BANDS),
        default="sem",
        help="the shaded band around the mean: standard error (sem, default), standard "
        "deviation (std), 95%% t confidence interval (ci95), or none",
    )
    p.add_argument(
        "--target",
        type=finite_float,
        help="report the labels needed to first reach this metric value (at or above it; at "
        "or below for lower-is-better metrics), and draw it",
    )
    p.add_argument(
        "--baseline",
        metavar="NAME",
        help="the strategy every other line is paired with, seed by seed (default: random, "
        "where there is a random line); 'none' for no paired statistics",
    )
    p.add_argument(
        "--group-by",
        action="append",
        default=[],
        metavar="KEY",
        help="group runs by the CSV's identity columns and this config key from each run's "
        "run.json (e.g. trainer.lr) or CSV column, merging runs that differ in other settings "
        "(the table's merged_over column names them); repeat or comma-separate for several",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="folder for figures and summary files (default: PATH/plots/ for the first PATH)",
    )
    p.add_argument(
        "--format",
        type=formats,
        default=["png"],
        help=f"figure formats, comma-separated, from {', '.join(FORMATS)} (default: png)",
    )
    p.add_argument(
        "--markdown",
        action="store_true",
        help="accepted for older scripts: summary_<metric>.md is always written",
    )
    p.add_argument(
        "--dpi", type=positive_int, default=150, help="PNG resolution (default: 150, 1050x675)"
    )
    return p


def default_out(path: Path) -> Path:
    return (path.parent if path.is_file() else path) / "plots"


def warn(message: str) -> None:
    print(f"al plot: warning: {message}", file=sys.stderr)


def resolve_baseline(requested: str | None, strategies: set[str]) -> str | None:
    """The baseline strategy: as asked, or random where present; None for no comparisons."""
    if requested is None:
        return "random" if "random" in strategies else None
    if requested.lower() == "none":
        return None
    if requested not in strategies:
        choices = ", ".join(sorted(strategies))
        raise PlotError(
            f"--baseline {requested}: no line has this strategy; choose from {choices}, or none"
        )
    return requested


def plot(args: argparse.Namespace) -> None:
    """Read, group, rank, compare, draw and tabulate; raises PlotError for a mistake the user
    can fix."""
    from al_cli.files import atomic_write_text
    from al_cli.plot.figures import write_figures
    from al_cli.plot.outputs import publish, staged
    from al_cli.plot.paired import compare_lines
    from al_cli.plot.runs import find_curves, group_lines, load_runs, name_lines
    from al_cli.plot.summary import format_markdown, format_text, rank_lines, summary_table

    group_by = list(dict.fromkeys(k.strip() for g in args.group_by for k in g.split(",")))
    group_by = [k for k in group_by if k]
    curves = find_curves(args.paths)
    runs, skipped = load_runs(curves, args.metric, group_by, warn)
    if not runs:
        if len(skipped) == 1:
            raise PlotError(skipped[0])
        for reason in skipped:
            warn(f"skipped {reason}")
        raise PlotError(f"none of the {len(curves)} learning curves could be read (see above)")
    for reason in skipped:
        warn(f"skipped {reason}")
    out = args.out or default_out(args.paths[0])
    if out.exists() and not out.is_dir():
        raise PlotError(f"--out {out} is a file; give a folder")

    if args.target is not None and args.metric.endswith("_seconds"):
        warn(f"--target is not used for {args.metric}: a time is summed per run, not reached")
    lines = group_lines(runs, warn, by_config=not group_by)
    name_lines(lines)
    baseline = resolve_baseline(args.baseline, {line.identity["strategy"] for line in lines})
    lines = rank_lines(lines, args.metric)
    comparisons = reasons = None
    if baseline:
        comparisons, reasons = compare_lines(lines, baseline)
        missing = [f"{line.label}: {r}" for line, r in zip(lines, reasons, strict=True) if r]
        if missing:
            warn(
                f"no paired statistics against {baseline} for {len(missing)} line(s): "
                + "; ".join(missing)
            )
    table = summary_table(
        lines, args.metric, args.target, comparisons, reasons, merged=bool(group_by)
    )

    stem = f"summary_{args.metric}"
    try:
        with staged(out) as stage:
            figures = write_figures(
                lines,
                stage,
                args.metric,
                args.x,
                args.band,
                args.target,
                args.format,
                args.dpi,
                comparisons,
                baseline,
            )
            atomic_write_text(stage / f"{stem}.csv", table.to_csv(index=False))
            atomic_write_text(stage / f"{stem}.md", format_markdown(table))
            publish(stage, out)
    except OSError as err:
        raise PlotError(
            f"cannot write to --out {out} ({err.strerror or err}); give a folder you can write"
        ) from None
    written = [*(out / f.name for f in figures), out / f"{stem}.csv", out / f"{stem}.md"]
    try:
        print(format_text(table))
        print(
            f"al plot: {len(runs)} runs, {len(lines)} lines; wrote {', '.join(map(str, written))}"
        )
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; the figures and tables in {out} are complete") from None


def main(argv: list[str] | None = None) -> int:
    """The ``al plot`` command; returns the exit status (2 for bad input, 130 for Ctrl-C)."""
    args = parser().parse_args(argv)
    with ctrl_c_noted() as interrupted:
        try:
            plot(args)
        except PlotError as err:
            print(f"al plot: error: {err}", file=sys.stderr)
            return 2
        except Interrupted as err:
            print(f"al plot: {err}", file=sys.stderr)
            return 128 + signal.SIGINT
        except KeyboardInterrupt:
            print(f"al plot: {NOT_WRITTEN}", file=sys.stderr)
            return 128 + signal.SIGINT
        except BrokenPipeError:  # 'al plot ... | head': the files are written; stop printing
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except Exception:
            if not interrupted():
                raise
            print(f"al plot: {NOT_WRITTEN}", file=sys.stderr)
            return 128 + signal.SIGINT
    return 0


@contextlib.contextmanager
def ctrl_c_noted() -> Iterator[Callable[[], bool]]:
    """Note each Ctrl-C before raising KeyboardInterrupt as Python does: one that lands inside
    a library's code can surface there as another error (matplotlib, stopped mid-draw, has
    raised TypeError), which is then the Ctrl-C, not a fault. Yields whether one came."""
    seen: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        seen.append(signum)
        raise KeyboardInterrupt

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main_thread else None
    if previous is signal.default_int_handler:
        signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(seen)
    finally:
        if previous is signal.default_int_handler:
            signal.signal(signal.SIGINT, previous)
