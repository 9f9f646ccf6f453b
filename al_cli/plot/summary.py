"""The numbers behind the comparison table: final metric, area under the curve, labels to a target.

Pure functions on ``[seeds, points]`` arrays, so each number can be checked by hand.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from al_cli.plot.runs import Line

LOWER_IS_BETTER = ("nll", "ece", "loss", "error", "seconds")


def lower_is_better(metric: str) -> bool:
    """NLL, ECE, losses, errors and times improve downwards; accuracies and the rest upwards."""
    return metric.rsplit("_", 1)[-1] in LOWER_IS_BETTER


def normalized_auc(n_labeled: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Trapezoid area under each curve divided by the labeled range: the curve's mean height,
    in the metric's units. ``values`` is ``[seeds, points]``; a one-point curve is its value."""
    values = np.atleast_2d(values)
    if len(n_labeled) == 1:
        return values[:, 0].astype(float)
    widths = np.diff(n_labeled)
    area = ((values[:, 1:] + values[:, :-1]) / 2 * widths).sum(axis=1)
    return area / (n_labeled[-1] - n_labeled[0])


def labels_to_reach(
    n_labeled: np.ndarray, values: np.ndarray, target: float, lower: bool
) -> np.ndarray:
    """Per seed, the first ``n_labeled`` at which the metric reaches ``target`` (at or above it;
    at or below for a lower-is-better metric), NaN where it never does."""
    values = np.atleast_2d(values)
    reached = values <= target if lower else values >= target
    first = reached.argmax(axis=1)
    return np.where(reached.any(axis=1), n_labeled[first].astype(float), np.nan)


def mean_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; NaN for a single value)."""
    values = np.asarray(values, dtype=float)
    std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
    return float(values.mean()), std


def band_halfwidth(values: np.ndarray, band: str) -> np.ndarray | None:
    """Half-width of the band around the mean of ``[seeds, points]``; None for one seed or
    ``band='none'``. ci95 uses Student's t with seeds - 1 degrees of freedom."""
    n = values.shape[0]
    if band == "none" or n < 2:
        return None
    std = values.std(axis=0, ddof=1)
    if band == "std":
        return std
    sem = std / math.sqrt(n)
    if band == "sem":
        return sem
    from scipy.stats import t  # only here: scipy is slow to import

    return float(t.ppf(0.975, n - 1)) * sem


def rank_lines(lines: list[Line], metric: str) -> list[Line]:
    """By dataset and model, then best mean area under the curve first (ties: by name)."""
    sign = 1.0 if lower_is_better(metric) else -1.0

    def key(line: Line) -> tuple:
        auc = float(normalized_auc(line.n_labeled, line.values).mean())
        return (line.identity["dataset"], line.identity["model"], sign * auc, line.label)

    return sorted(lines, key=key)


def summary_table(lines: list[Line], metric: str, target: float | None) -> pd.DataFrame:
    """One row per line, in the order given: identity, seeds, final metric (mean and std over
    seeds), normalised area under the curve, and labels needed to reach ``target``."""
    lower = lower_is_better(metric)
    rows = []
    for line in lines:
        values, x = line.values, line.n_labeled
        final_mean, final_std = mean_std(values[:, -1])
        auc_mean, auc_std = mean_std(normalized_auc(x, values))
        row = {
            **line.identity,
            "label": line.label,
            "metric": metric,
            "seeds": len(line.runs),
            "partial": line.partial,
            "first_n_labeled": int(x[0]),
            "last_n_labeled": int(x[-1]),
            "final_mean": final_mean,
            "final_std": final_std,
            "auc_mean": auc_mean,
            "auc_std": auc_std,
        }
        if target is not None:
            needed = labels_to_reach(x, values, target, lower)
            reached = needed[~np.isnan(needed)]
            row["target"] = target
            row["labels_to_target"] = float(reached.mean()) if len(reached) else math.nan
            row["reached_target"] = len(reached)
        rows.append(row)
    return pd.DataFrame(rows)


def _num(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _pm(mean: float, std: float) -> str:
    return _num(mean) if math.isnan(std) else f"{_num(mean)} ± {_num(std)}"


def table_blocks(table: pd.DataFrame) -> list[tuple[str, list[str], list[list[str]]]]:
    """Per dataset and model: a heading, column names and the rows as strings."""
    metric = table["metric"].iloc[0]
    direction = "lower is better" if lower_is_better(metric) else "higher is better"
    blocks = []
    for (dataset, model), block in table.groupby(["dataset", "model"], sort=False):
        header = ["strategy", "seeds", "labels", f"final {metric}", "AUC"]
        if "target" in block:
            header.append(f"labels to {block['target'].iloc[0]:g}")
        rows = []
        for r in block.itertuples():
            seeds = f"{r.seeds}" + (f" ({r.partial} partial)" if r.partial else "")
            row = [
                r.label,
                seeds,
                f"{r.first_n_labeled}-{r.last_n_labeled}",
                _pm(r.final_mean, r.final_std),
                _pm(r.auc_mean, r.auc_std),
            ]
            if "target" in block:
                needed = "never" if math.isnan(r.labels_to_target) else f"{r.labels_to_target:.0f}"
                row.append(f"{needed} ({r.reached_target}/{r.seeds})")
            rows.append(row)
        heading = f"{dataset}, {model}: {metric} ({direction}), mean ± std over seeds"
        blocks.append((heading, header, rows))
    return blocks


def format_text(table: pd.DataFrame) -> str:
    """The comparison table as aligned plain text, one block per dataset and model."""
    out = []
    for heading, header, rows in table_blocks(table):
        widths = [max(len(c) for c in column) for column in zip(header, *rows, strict=True)]
        out.append(heading)
        for cells in [header, *rows]:
            padded = [
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ]
            out.append("  " + "  ".join(padded).rstrip())
        out.append("")
    return "\n".join(out)


def format_markdown(table: pd.DataFrame) -> str:
    """The comparison table as Markdown, one table per dataset and model."""
    out = []
    for heading, header, rows in table_blocks(table):
        out += [f"**{heading}**", "", "| " + " | ".join(header) + " |"]
        out.append("|" + "|".join(["---"] + ["--:"] * (len(header) - 1)) + "|")
        out += ["| " + " | ".join(row) + " |" for row in rows]
        out.append("")
    return "\n".join(out)
