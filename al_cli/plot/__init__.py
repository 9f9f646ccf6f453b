"""``al plot``: learning curves and a comparison table from the runs below some folders.

Plain argparse, pandas and matplotlib (Agg): nothing here imports torch or Hydra, so the
command starts in about a second. pandas and matplotlib are imported only once the arguments
are parsed, so ``--help`` and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BANDS = {
    "sem": "±1 standard error",
    "std": "±1 standard deviation",
    "ci95": "95% confidence interval",
    "none": "no band",
}
FORMATS = ("png", "svg", "pdf")


class PlotError(Exception):
    """A mistake the user can fix (a path, a metric, a key); shown as one line, exit 2."""


DESCRIPTION = """\
Learning curves and a comparison table from the runs below PATH(s).

Every learning_curve.csv below the given folders is read (single runs and multiruns alike, at
any depth). Runs with the same dataset, model, strategy, posterior, posterior_samples,
acquisition and selection (and any --group-by key) and the same n_labeled grid are averaged
over seeds; runs whose grids differ are kept apart, with a warning. Runs whose run.json status
is not 'finished' are included and marked partial.

Writes one figure per dataset and model, <dataset>_<model>_<metric>.<format>, and summary.csv
(summary.md with --markdown) to --out, and prints the table: per strategy the number of seeds,
the final metric (mean ± std over seeds, ddof=1), the normalised area under the learning curve
(trapezoid area over n_labeled divided by the labeled range, in the metric's units) and, with
--target, the labels needed to first reach the target. Strategies are sorted by that area;
for test_nll, test_ece and *_seconds lower is better."""

EPILOG = """\
examples:
  al plot results/
  al plot results/ --metric test_nll --target 0.5 --out figures/ --format png,pdf
  al plot results/ --group-by trainer.lr --band ci95 --markdown"""


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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
        type=float,
        help="report the labels needed to first reach this metric value (at or above it; at "
        "or below for lower-is-better metrics), and draw it",
    )
    p.add_argument(
        "--group-by",
        action="append",
        default=[],
        metavar="KEY",
        help="also split lines by this config key from each run's run.json (e.g. "
        "trainer.lr, budget.query_size) or CSV column; repeat or comma-separate for several",
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
    p.add_argument("--markdown", action="store_true", help="also write summary.md")
    p.add_argument(
        "--dpi", type=positive_int, default=150, help="PNG resolution (default: 150, 1050x675)"
    )
    return p


def default_out(path: Path) -> Path:
    return (path.parent if path.is_file() else path) / "plots"


def warn(message: str) -> None:
    print(f"al plot: warning: {message}", file=sys.stderr)


def plot(args: argparse.Namespace) -> None:
    """Read, group, rank, draw and tabulate; raises PlotError for a mistake the user can fix."""
    from al_cli.files import atomic_write_text
    from al_cli.plot.figures import write_figures
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

    lines = group_lines(runs, warn)
    name_lines(lines)
    lines = rank_lines(lines, args.metric)
    table = summary_table(lines, args.metric, args.target)

    out.mkdir(parents=True, exist_ok=True)
    figures = write_figures(
        lines, out, args.metric, args.x, args.band, args.target, args.format, args.dpi
    )
    atomic_write_text(out / "summary.csv", table.to_csv(index=False))
    written = [*figures, out / "summary.csv"]
    if args.markdown:
        atomic_write_text(out / "summary.md", format_markdown(table))
        written.append(out / "summary.md")
    print(format_text(table))
    print(f"al plot: {len(runs)} runs, {len(lines)} lines; wrote {', '.join(map(str, written))}")


def main(argv: list[str] | None = None) -> int:
    """The ``al plot`` command; returns the exit status (2 for bad input)."""
    args = parser().parse_args(argv)
    try:
        plot(args)
    except PlotError as err:
        print(f"al plot: error: {err}", file=sys.stderr)
        return 2
    return 0
