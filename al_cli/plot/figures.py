"""Figures, drawn with Agg: per dataset and model, the learning curves (a line per experiment)
and, against a baseline, each line's paired difference from it.

A strategy keeps its colour in every figure: the common ones have fixed colours, any other
name gets one from a stable hash (crc32) of its name, so a strategy added later is coloured
the same way on every machine. The palette is Okabe & Ito's colour-blind-safe set (without
its yellow, which is hard to read on white), extended with three of Paul Tol's muted colours.
"""

from __future__ import annotations

import os
import re
import tempfile
import textwrap
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import offset_copy

from al_cli.plot.paired import Comparison
from al_cli.plot.runs import Line
from al_cli.plot.shared import BANDS
from al_cli.plot.summary import (
    band_halfwidth,
    cumulative,
    is_time,
    labels_to_reach,
    lower_is_better,
)

PALETTE = [
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#332288",  # indigo
    "#882255",  # wine
    "#999933",  # olive
]
RANDOM_COLOUR = "#000000"
FIXED_COLOURS = {
    "random": RANDOM_COLOUR,
    "entropy": PALETTE[0],
    "margin": PALETTE[1],
    "least_confidence": PALETTE[2],
    "mc_dropout": PALETTE[3],
    "bald": PALETTE[4],
    "coreset": PALETTE[5],
    "badge": PALETTE[6],
    "batchbald": PALETTE[7],
    "deep_ensemble": PALETTE[8],
}
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
"""For a line whose colour another line of the same figure already has."""
FIGSIZE = (7.0, 4.5)
"""Inches; at the default 150 dpi a PNG is 1050 x 675 pixels."""
TIME_FIGSIZE = (11.0, 4.5)
"""A time metric has two panels side by side: per round and cumulative."""
MERGED_SHOWN = 2
"""A legend names this many merged-over keys, then says how many more."""

AXIS_LABELS = {
    "n_labeled": "labeled examples",
    "round": "round (0: the initial labeled set)",
    "test_accuracy": "test accuracy (fraction correct)",
    "test_nll": "test NLL (nats per example)",
    "test_ece": "test ECE (15 bins, fraction)",
}


BOUNDS = {"accuracy": (0.0, 1.0), "ece": (0.0, 1.0), "nll": (0.0, np.inf), "seconds": (0.0, np.inf)}
"""Where a metric (by its last word) can lie; bands are clipped to it (a 95% interval over two
seeds is wide enough to leave [0, 1])."""
LEGEND_INSIDE = 5
"""Up to this many legend entries the legend sits inside the axes, else below them."""
LEGEND_WIDTH = 70
"""Characters per legend line; a longer label (many settings differ) wraps, and the legend
moves below the axes."""
LEGEND_LINE_INCHES = 0.17
"""The height a legend below the axes adds to the figure, per line of text."""


def strategy_colour(strategy: str) -> str:
    """The strategy's colour in every figure: fixed for common names, else a stable hash."""
    if strategy in FIXED_COLOURS:
        return FIXED_COLOURS[strategy]
    return PALETTE[zlib.crc32(strategy.encode()) % len(PALETTE)]


def axis_label(column: str) -> str:
    if column in AXIS_LABELS:
        return AXIS_LABELS[column]
    if column.endswith("_seconds"):
        return f"{column.removesuffix('_seconds').replace('_', ' ')} time per round (seconds)"
    return column.replace("_", " ")


def line_styles(lines: list[Line]) -> list[dict]:
    """Colour by strategy, random dashed, and a marker for each line whose colour is taken."""
    used: dict[str, int] = {}
    styles = []
    for line in lines:
        strategy = line.identity["strategy"]
        colour = strategy_colour(strategy)
        repeat = used.get(colour, 0)
        used[colour] = repeat + 1
        style = {"color": colour, "linestyle": "--" if strategy == "random" else "-"}
        if repeat:
            style["marker"] = MARKERS[(repeat - 1) % len(MARKERS)]
        styles.append(style)
    return styles


def nan_mean(values: np.ndarray) -> np.ndarray:
    """The mean over seeds, ignoring missing values (a time never measured)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column missing for every seed
        return np.nanmean(values, axis=0)


def plot_mean(
    ax: Axes, xs: np.ndarray, values: np.ndarray, band: str, bounds: tuple, label: str, style: dict
) -> None:
    """The mean of ``[seeds, points]`` with its band, clipped to ``bounds``."""
    mean = nan_mean(values)
    every = max(1, len(xs) // 12)
    ax.plot(xs, mean, lw=2, ms=5, markevery=every, label=label, **style)
    half = band_halfwidth(values, band)
    if half is not None:
        low, high = bounds
        ax.fill_between(
            xs,
            np.clip(mean - half, low, high),
            np.clip(mean + half, low, high),
            color=style["color"],
            alpha=0.2,
            lw=0,
        )


def legend_label(line: Line, extra: list[str]) -> str:
    """``random (trainer.lr=0.01, 3 seeds, 1 partial)``: the line's name, its details, then
    ``extra`` (seeds, pairs, what was merged, who missed the target)."""
    merged = []
    if line.merged_over:
        shown = ", ".join(line.merged_over[:MERGED_SHOWN])
        more = len(line.merged_over) - MERGED_SHOWN
        merged = [f"merged over {shown}" + (f" and {more} more" if more > 0 else "")]
    parts = [*line.details, *extra, *merged]
    label = line.identity["strategy"] + (f" ({', '.join(parts)})" if parts else "")
    return textwrap.fill(label, LEGEND_WIDTH, subsequent_indent="    ", break_long_words=False)


def seeds_text(line: Line) -> list[str]:
    seeds = f"{len(line.runs)} seed{'s' if len(line.runs) != 1 else ''}"
    return [seeds] + ([f"{line.partial} partial"] if line.partial else [])


def mark_target(
    ax: Axes, line: Line, xs: np.ndarray, target: float, lower: bool, style: dict, row: int
) -> list[str]:
    """On the target line: where the median seed reaches it (a dot) and, when some seeds never
    reach it, a triangle pointing right past the last point (the ``row``-th such line's is
    drawn that many marker heights lower, so none hides another). Returns the legend's note."""
    needed = labels_to_reach(xs, line.values, target, lower)
    median = float(np.median(needed))
    colour = style["color"]
    if np.isfinite(median):
        ax.plot([median], [target], "o", color=colour, ms=7, zorder=3)
    missed = int(np.isinf(needed).sum())
    if not missed:
        return []
    shifted = offset_copy(ax.transData, fig=ax.figure, y=-7.0 * row, units="points")
    ax.plot([xs[-1]], [target], ">", color=colour, ms=8, zorder=3, clip_on=False, transform=shifted)
    return [f"{missed}/{len(needed)} never reach {target:g}"]


def add_legend(fig: Figure, ax: Axes, entries: int, title: str) -> None:
    """Inside the axes for a few one-line entries; else below them, in two columns, or in one
    when a label wraps: then the figure is made taller by the legend's height."""
    handles, labels = ax.get_legend_handles_labels()
    wrapped = any("\n" in label for label in labels)
    if entries <= LEGEND_INSIDE and not wrapped:
        legend = ax.legend(title=title, fontsize="small", title_fontsize="small")
        legend.get_frame().set_alpha(0.9)
        return
    ncols = 1 if wrapped else 2
    if wrapped:  # long labels: a taller figure, so the axes keep their height
        rows = [labels[i : i + ncols] for i in range(0, len(labels), ncols)]
        text_lines = 1 + sum(max(label.count("\n") + 1 for label in row) for row in rows)
        width, height = fig.get_size_inches()
        fig.set_size_inches(width, height + LEGEND_LINE_INCHES * text_lines)
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=ncols,
        title=title,
        fontsize="small",
        title_fontsize="small",
        frameon=False,
    )


def draw(
    lines: list[Line],
    metric: str,
    x: str,
    band: str,
    target: float | None,
    dpi: int,
) -> Figure:
    """One figure: the lines of one dataset and model, in the order given (the table's).

    A time metric gets two panels: the time per round and its running sum over a run's rounds.
    """
    time = is_time(metric)
    fig = Figure(figsize=TIME_FIGSIZE if time else FIGSIZE, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    panels: list[tuple[str, Callable[[np.ndarray], np.ndarray]]] = [("", lambda v: v)]
    if time:
        panels = [("per round", lambda v: v), ("cumulative over the rounds", cumulative)]
    axes = [fig.add_subplot(1, len(panels), k + 1) for k in range(len(panels))]
    bounds = BOUNDS.get(metric.rsplit("_", 1)[-1], (-np.inf, np.inf))
    lower = lower_is_better(metric)
    marks = 0
    for line, style in zip(lines, line_styles(lines), strict=True):
        xs = line.n_labeled if x == "n_labeled" else line.rounds
        extra = seeds_text(line)
        if target is not None and not time:
            missed = mark_target(axes[0], line, xs, target, lower, style, marks)
            marks += bool(missed)
            extra += missed
        label = legend_label(line, extra)
        for ax, (_, transform) in zip(axes, panels, strict=True):
            plot_mean(ax, xs, transform(line.values), band, bounds, label, style)
    identity = lines[0].identity
    direction = "lower is better" if lower else "higher is better"
    name = axis_label(metric).split(" (")[0].replace(" per round", "")
    title = f"{identity['dataset']}, {identity['model']}: {name} ({direction})"
    if time:
        fig.suptitle(title, fontsize="medium")
    for ax, (panel, _) in zip(axes, panels, strict=True):
        ax.set_title(panel or title, fontsize="medium")
        ax.set_xlabel(axis_label(x))
        ylabel = axis_label(metric)
        ax.set_ylabel(ylabel.replace("per round", "so far") if panel.startswith("cum") else ylabel)
        ax.grid(alpha=0.3)
        ax.margins(x=0.01)
    entries = len(lines)
    if target is not None and not time:
        marks_text = "●: median seed reaches it" + (", ▶: some seeds never do" if marks else "")
        label = f"target {target:g} ({marks_text})"
        axes[0].axhline(target, color="0.4", lw=1, ls=":", label=label)
        entries += 1
    add_legend(fig, axes[0], entries, f"mean over seeds, {BANDS[band]}")
    return fig


def draw_differences(
    lines: list[Line],
    comparisons: list[Comparison],
    baseline: str,
    metric: str,
    x: str,
    band: str,
    dpi: int,
) -> Figure:
    """Each line's difference from its baseline line, paired by seed, against labels: the
    mean over pairs with its band. For a time metric, the difference in cumulative time."""
    fig = Figure(figsize=FIGSIZE, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    time = is_time(metric)
    ax.axhline(0.0, color=RANDOM_COLOUR, lw=1, ls="--", label=f"{baseline} (no difference)")
    for line, comparison, style in zip(lines, comparisons, line_styles(lines), strict=True):
        xs = line.n_labeled if x == "n_labeled" else line.rounds
        mine, theirs = comparison.line_values, comparison.base_values
        if time:
            mine, theirs = cumulative(mine), cumulative(theirs)
        pairs = f"{comparison.pairs} pair{'s' if comparison.pairs != 1 else ''}"
        label = legend_label(line, [pairs])
        plot_mean(ax, xs, mine - theirs, band, (-np.inf, np.inf), label, style)
    identity = lines[0].identity
    name = axis_label(metric).split(" (")[0]
    direction = "lower is better" if lower_is_better(metric) else "higher is better"
    ax.set_title(
        f"{identity['dataset']}, {identity['model']}: {name} minus {baseline}, paired by seed "
        f"({direction})",
        fontsize="medium",
    )
    ax.set_xlabel(axis_label(x))
    ylabel = axis_label(metric).replace("time per round", "time so far")
    ax.set_ylabel(f"difference in {ylabel}")
    ax.grid(alpha=0.3)
    ax.margins(x=0.01)
    add_legend(fig, ax, len(lines) + 1, f"mean paired difference, {BANDS[band]}")
    return fig


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "unnamed"


def save(fig: Figure, path: Path, fmt: str) -> None:
    """Write the figure through a temporary file and a rename: no reader sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, format=fmt)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_figures(
    lines: list[Line],
    out: Path,
    metric: str,
    x: str,
    band: str,
    target: float | None,
    formats: list[str],
    dpi: int,
    comparisons: list[Comparison | None] | None = None,
    baseline: str | None = None,
) -> list[Path]:
    """Per dataset and model, ``<dataset>_<model>_<metric>.<format>`` (lines in order) and,
    where a line has a comparison, ``<dataset>_<model>_<metric>_vs_<baseline>.<format>``."""
    comparisons = comparisons or [None] * len(lines)
    panels: dict[tuple[str, str], list[int]] = {}
    for i, line in enumerate(lines):
        panels.setdefault((line.identity["dataset"], line.identity["model"]), []).append(i)
    written = []

    def save_all(fig: Figure, stem: str) -> None:
        for fmt in formats:
            path = out / f"{safe_name(stem)}.{fmt}"
            save(fig, path, fmt)
            written.append(path)

    for (dataset, model), members in panels.items():
        fig = draw([lines[i] for i in members], metric, x, band, target, dpi)
        save_all(fig, f"{dataset}_{model}_{metric}")
        compared = [i for i in members if comparisons[i] is not None]
        if compared and baseline:
            fig = draw_differences(
                [lines[i] for i in compared],
                [comparisons[i] for i in compared],
                baseline,
                metric,
                x,
                band,
                dpi,
            )
            save_all(fig, f"{dataset}_{model}_{metric}_vs_{baseline}")
    return written
