"""Learning-curve figures: one per dataset and model, a line per strategy, drawn with Agg.

A strategy keeps its colour in every figure: the common ones have fixed colours, any other
name gets one from a stable hash (crc32) of its name, so a strategy added later is coloured
the same way on every machine. The palette is Okabe & Ito's colour-blind-safe set (without
its yellow, which is hard to read on white), extended with three of Paul Tol's muted colours.
"""

from __future__ import annotations

import os
import re
import tempfile
import zlib
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from al_cli.plot import BANDS
from al_cli.plot.runs import Line
from al_cli.plot.summary import band_halfwidth, lower_is_better

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


def draw(
    lines: list[Line],
    metric: str,
    x: str,
    band: str,
    target: float | None,
    dpi: int,
) -> Figure:
    """One figure: the lines of one dataset and model, in the order given (the table's)."""
    fig = Figure(figsize=FIGSIZE, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for line, style in zip(lines, line_styles(lines), strict=True):
        xs = line.n_labeled if x == "n_labeled" else line.rounds
        values = line.values
        mean = values.mean(axis=0)
        seeds = f"{len(line.runs)} seed{'s' if len(line.runs) != 1 else ''}"
        partial = f", {line.partial} partial" if line.partial else ""
        every = max(1, len(xs) // 12)
        label = f"{line.label} ({seeds}{partial})"
        ax.plot(xs, mean, lw=2, ms=5, markevery=every, label=label, **style)
        half = band_halfwidth(values, band)
        if half is not None:
            low, high = BOUNDS.get(metric.rsplit("_", 1)[-1], (-np.inf, np.inf))
            ax.fill_between(
                xs,
                np.clip(mean - half, low, high),
                np.clip(mean + half, low, high),
                color=style["color"],
                alpha=0.2,
                lw=0,
            )
    if target is not None:
        ax.axhline(target, color="0.4", lw=1, ls=":", label=f"target {target:g}")
    identity = lines[0].identity
    direction = "lower is better" if lower_is_better(metric) else "higher is better"
    name = axis_label(metric).split(" (")[0]
    ax.set_title(f"{identity['dataset']}, {identity['model']}: {name} ({direction})")
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(metric))
    ax.grid(alpha=0.3)
    ax.margins(x=0.01)
    title = f"mean over seeds, {BANDS[band]}"
    entries = len(lines) + (target is not None)
    if entries <= LEGEND_INSIDE:
        legend = ax.legend(title=title, fontsize="small", title_fontsize="small")
        legend.get_frame().set_alpha(0.9)
    else:
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(
            handles,
            labels,
            loc="outside lower center",
            ncols=2,
            title=title,
            fontsize="small",
            title_fontsize="small",
            frameon=False,
        )
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
) -> list[Path]:
    """A figure per dataset and model, ``<dataset>_<model>_<metric>.<format>``, lines in order."""
    panels: dict[tuple[str, str], list[Line]] = {}
    for line in lines:
        panels.setdefault((line.identity["dataset"], line.identity["model"]), []).append(line)
    written = []
    for (dataset, model), members in panels.items():
        fig = draw(members, metric, x, band, target, dpi)
        stem = safe_name(f"{dataset}_{model}_{metric}")
        for fmt in formats:
            path = out / f"{stem}.{fmt}"
            save(fig, path, fmt)
            written.append(path)
    return written
