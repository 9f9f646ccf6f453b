"""The numbers behind the comparison table: final metric, area under the curve, labels to a
target, total time, and the paired differences from a baseline.

Pure functions on ``[seeds, points]`` arrays, so each number can be checked by hand.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd

from al_cli.plot.paired import Comparison, differences, paired_stats, small_n_note
from al_cli.plot.runs import Line

LOWER_IS_BETTER = ("nll", "ece", "loss", "error", "seconds")
COUNTS = ("reached_target", "pairs", "wins", "ties", "losses")


def lower_is_better(metric: str) -> bool:
    """NLL, ECE, losses, errors and times improve downwards; accuracies and the rest upwards."""
    return metric.rsplit("_", 1)[-1] in LOWER_IS_BETTER


def is_time(metric: str) -> bool:
    """Times per round are summed per run (a total, a cumulative curve), never averaged."""
    return metric.endswith("_seconds")


def totals(values: np.ndarray) -> np.ndarray:
    """Per run, the sum over rounds of ``[seeds, points]``; missing values (NaN) count 0."""
    return np.nansum(np.atleast_2d(values), axis=1)


def cumulative(values: np.ndarray) -> np.ndarray:
    """The running sum along each run; a missing value stays missing (and adds nothing)."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    out = np.nancumsum(values, axis=1)
    out[np.isnan(values)] = np.nan
    return out


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
    at or below for a lower-is-better metric); ``inf`` where it never does (more labels than
    the curve has: such a seed still counts, above every seed that reached it)."""
    values = np.atleast_2d(values)
    reached = values <= target if lower else values >= target
    first = reached.argmax(axis=1)
    return np.where(reached.any(axis=1), n_labeled[first].astype(float), np.inf)


def target_summary(needed: np.ndarray) -> dict[str, float | int]:
    """Median, min and max over seeds of ``labels_to_reach`` (``inf`` beyond the curve's last
    point: with half the seeds or more not reaching the target the median is ``inf`` too), and
    how many seeds reach it."""
    needed = np.asarray(needed, dtype=float)
    return {
        "labels_to_target_median": float(np.median(needed)),
        "labels_to_target_min": float(needed.min()),
        "labels_to_target_max": float(needed.max()),
        "reached_target": int(np.isfinite(needed).sum()),
    }


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


def run_scores(line: Line, values: np.ndarray, metric: str) -> np.ndarray:
    """Per run of ``values`` (``[runs, points]`` on the line's grid), the number lines are
    ranked and paired by: the total for a time metric, else the normalised area under the
    curve."""
    return totals(values) if is_time(metric) else normalized_auc(line.n_labeled, values)


def rank_lines(lines: list[Line], metric: str) -> list[Line]:
    """By dataset and model, then best mean area under the curve (least total time) first
    (ties: by name)."""
    sign = 1.0 if lower_is_better(metric) else -1.0

    def key(line: Line) -> tuple:
        score = float(run_scores(line, line.values, metric).mean())
        return (line.identity["dataset"], line.identity["model"], sign * score, line.label)

    return sorted(lines, key=key)


def paired_columns(time: bool) -> list[str]:
    """The columns a comparison with the baseline adds, in order (before ``note``)."""
    primary = "total" if time else "auc"
    columns = ["baseline", "pairs", f"{primary}_diff", f"{primary}_diff_low"]
    columns += [f"{primary}_diff_high", "p_value", "wins", "ties", "losses"]
    if not time:
        columns += ["final_diff", "final_diff_low", "final_diff_high", "final_p_value"]
    return columns


def comparison_columns(
    comparison: Comparison, line: Line, metric: str, lower: bool
) -> dict[str, object]:
    """The paired statistics of one line against its baseline (see ``paired``)."""
    row: dict[str, object] = {"baseline": comparison.baseline.label, "pairs": comparison.pairs}
    mine, theirs = comparison.line_values, comparison.base_values
    d = differences(run_scores(line, mine, metric), run_scores(line, theirs, metric))
    stats = paired_stats(d, lower)
    name = "total" if is_time(metric) else "auc"
    row.update({f"{name}_{k}": stats[k] for k in ("diff", "diff_low", "diff_high")})
    row.update({k: stats[k] for k in ("p_value", "wins", "ties", "losses")})
    if not is_time(metric):
        final = paired_stats(differences(mine[:, -1], theirs[:, -1]), lower)
        row.update({f"final_{k}": final[k] for k in ("diff", "diff_low", "diff_high")})
        row["final_p_value"] = final["p_value"]
    row["note"] = small_n_note(comparison.pairs)
    return row


def summary_table(
    lines: list[Line],
    metric: str,
    target: float | None,
    comparisons: list[Comparison | None] | None = None,
    reasons: list[str] | None = None,
    merged: bool = False,
) -> pd.DataFrame:
    """One row per line, in the order given: identity, seeds, final metric (mean and std over
    seeds), normalised area under the curve (for a time metric: the total per run), labels
    needed to reach ``target`` and, with ``comparisons``, the paired statistics against the
    baseline (``reasons``: why a line has none). ``merged`` (lines grouped with ``--group-by``)
    adds ``merged_over``: the config keys whose values differ between a line's runs."""
    lower = lower_is_better(metric)
    time = is_time(metric)
    rows = []
    for i, line in enumerate(lines):
        values, x = line.values, line.n_labeled
        row: dict[str, object] = {
            **line.identity,
            "label": line.label,
            "config": line.config_id or "",
            "metric": metric,
            "seeds": len(line.runs),
            "partial": line.partial,
            "first_n_labeled": int(x[0]),
            "last_n_labeled": int(x[-1]),
        }
        if merged:
            row["merged_over"] = ", ".join(line.merged_over)
        if time:
            row["total_mean"], row["total_std"] = mean_std(totals(values))
        else:
            row["final_mean"], row["final_std"] = mean_std(values[:, -1])
            row["auc_mean"], row["auc_std"] = mean_std(normalized_auc(x, values))
            if target is not None:
                row["target"] = target
                row.update(target_summary(labels_to_reach(x, values, target, lower)))
        if comparisons is not None:
            comparison = comparisons[i]
            if comparison is not None:
                row.update(comparison_columns(comparison, line, metric, lower))
            else:
                is_base = reasons is None or not reasons[i]
                row["note"] = "baseline" if is_base else f"not compared: {reasons[i]}"
        rows.append(row)
    table = pd.DataFrame(rows)
    if comparisons is not None:  # the same columns whether or not any line was compared
        for column in paired_columns(time):
            if column not in table:
                table[column] = math.nan
    for column in COUNTS:  # integers, blank where a line has none (not 6.0 and NaN)
        if column in table:
            table[column] = table[column].astype("Int64")
    if comparisons is not None:  # the note last, after every statistic
        table = table[[c for c in table.columns if c != "note"] + ["note"]]
    return table


def _num(value: float, fmt: str = ".3f") -> str:
    return "-" if math.isnan(value) else format(value, fmt)


def _pm(mean: float, std: float, fmt: str = ".3f") -> str:
    if math.isnan(std):
        return _num(mean, fmt)
    return f"{_num(mean, fmt)} ± {_num(std, fmt)}"


def _diff(mean: float, low: float, high: float, fmt: str = ".3f") -> str:
    """``+0.031 [+0.012, +0.050]``: a mean paired difference and its 95% interval."""
    signed = "+" + fmt
    if math.isnan(mean):
        return "-"
    if math.isnan(low):
        return _num(mean, signed)
    return f"{_num(mean, signed)} [{_num(low, signed)}, {_num(high, signed)}]"


def _p(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _labels(value: float, last: int) -> str:
    return f"{value:.0f}" if math.isfinite(value) else f">{last}"


def _present(r: object, column: str) -> bool:
    value = getattr(r, column, None)
    return value is not None and not pd.isna(value)


def table_blocks(table: pd.DataFrame) -> list[tuple[str, list[str], list[list[str]], str]]:
    """Per dataset and model: a heading, column names, the rows as strings, and a key to the
    columns."""
    metric = table["metric"].iloc[0]
    time = is_time(metric)
    direction = "lower is better" if lower_is_better(metric) else "higher is better"
    paired = "baseline" in table
    blocks = []
    for (dataset, model), block in table.groupby(["dataset", "model"], sort=False):
        if time:
            header = ["strategy", "seeds", "labels", f"total {metric}"]
        else:
            header = ["strategy", "seeds", "labels", f"final {metric}", "AUC"]
        if "target" in block:
            header.append(f"labels to {block['target'].iloc[0]:g}")
        if "merged_over" in block:
            header.append("merged over")
        if paired:
            header += ["Δ total" if time else "Δ AUC"] + ([] if time else ["Δ final"])
            header += ["p", "W/T/L", "note"]
        rows = []
        for r in block.itertuples():
            seeds = f"{r.seeds}" + (f" ({r.partial} partial)" if r.partial else "")
            row = [r.label, seeds, f"{r.first_n_labeled}-{r.last_n_labeled}"]
            if time:  # seconds span orders of magnitude: three significant digits
                row.append(_pm(r.total_mean, r.total_std, ".3g"))
            else:
                row += [_pm(r.final_mean, r.final_std), _pm(r.auc_mean, r.auc_std)]
            if "target" in block:
                last = r.last_n_labeled
                median = _labels(r.labels_to_target_median, last)
                low = _labels(r.labels_to_target_min, last)
                high = _labels(r.labels_to_target_max, last)
                spread = "" if low == high else f" [{low}, {high}]"
                row.append(f"{median}{spread} {r.reached_target}/{r.seeds}")
            if "merged_over" in block:
                row.append(r.merged_over or "-")
            if paired:
                compared = _present(r, "pairs")
                primary = "total" if time else "auc"
                cells = [getattr(r, f"{primary}_diff"), getattr(r, f"{primary}_diff_low")]
                cells.append(getattr(r, f"{primary}_diff_high"))
                row.append(_diff(*cells, fmt=".3g" if time else ".3f") if compared else "")
                if not time:
                    row.append(_diff(r.final_diff, r.final_diff_low, r.final_diff_high))
                    if not compared:
                        row[-1] = ""
                row.append(_p(r.p_value) if compared else "")
                wtl = f"{r.wins:.0f}/{r.ties:.0f}/{r.losses:.0f}" if compared else ""
                row += [wtl, r.note if isinstance(r.note, str) else ""]
            rows.append(row)
        heading = f"{dataset}, {model}: {metric} ({direction}), mean ± std over seeds"
        blocks.append((heading, header, rows, column_key(block, time, paired)))
    return blocks


def column_key(block: pd.DataFrame, time: bool, paired: bool) -> str:
    """What the columns mean, printed under the table."""
    notes = []
    if time:
        notes.append("total: the time summed over a run's rounds")
    else:
        notes.append(
            "AUC: area under the learning curve over the labeled range, in the metric's units"
        )
    if "target" in block:
        notes.append(
            "labels to target: median [min, max] over seeds, then the seeds that reach it; "
            ">N: not reached by N labels (counted, never dropped)"
        )
    if paired:
        what = "totals" if time else "AUCs"
        names = sorted(set(block.loc[block["note"] == "baseline", "strategy"]))
        name = " or ".join(names) or "the baseline"
        notes.append(
            f"Δ: mean difference from {name} paired by seed (line minus baseline) [95% t "
            f"interval]; p: two-sided Wilcoxon signed-rank test on the paired {what}; W/T/L: "
            f"seeds where the line is better/equal/worse"
        )
    return "; ".join(notes) + "."


def format_text(table: pd.DataFrame) -> str:
    """The comparison table as aligned plain text, one block per dataset and model."""
    out = []
    for heading, header, rows, key in table_blocks(table):
        widths = [max(len(c) for c in column) for column in zip(header, *rows, strict=True)]
        out.append(heading)
        for cells in [header, *rows]:
            padded = [
                c.ljust(w) if i == 0 or i == len(cells) - 1 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ]
            out.append("  " + "  ".join(padded).rstrip())
        out += [textwrap.fill(key, width=100), ""]
    return "\n".join(out)


def format_markdown(table: pd.DataFrame) -> str:
    """The comparison table as Markdown, one table per dataset and model."""
    out = []
    for heading, header, rows, key in table_blocks(table):
        out += [f"**{heading}**", "", "| " + " | ".join(header) + " |"]
        align = ["---"] + ["--:"] * (len(header) - 1)
        if header[-1] == "note":
            align[-1] = "---"
        out.append("|" + "|".join(align) + "|")
        out += ["| " + " | ".join(row) + " |" for row in rows]
        out += ["", key, ""]
    return "\n".join(out)
