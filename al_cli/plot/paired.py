"""Paired comparisons against a baseline line: which differences hold over seeds.

The same seed draws the same test split and the same initial labels, so a line is compared
with its baseline seed by seed. Its baseline is the line of the baseline strategy that shares
every other setting (and the ``n_labeled`` grid). The statistics are pure functions of the
per-seed differences ``d = line - baseline``, so each can be checked against scipy or by hand:
the mean with a Student-t 95% interval, a two-sided Wilcoxon signed-rank p-value, and wins,
ties and losses.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from al_cli.plot.runs import STRATEGY_NODES, Line

STRATEGY_COLUMNS = ("strategy", "posterior", "posterior_samples", "acquisition", "selection")
"""The CSV's identity columns that say how a line queries."""
MIN_PAIRS = 6
"""Below this many paired seeds even the most lopsided result has p >= 2 / 2**5 = 0.0625."""
TIE = 1e-12
"""Differences this small are ties (the same curve, up to floating-point rounding)."""


@dataclass
class Comparison:
    """A line and its baseline, paired by seed."""

    baseline: Line
    seeds: list[str]
    line_values: np.ndarray
    """``[pairs, points]``: the line's runs, in the order of ``seeds``."""
    base_values: np.ndarray
    """``[pairs, points]``: the baseline's runs, in the same order."""

    @property
    def pairs(self) -> int:
        return len(self.seeds)


def other_settings(line: Line) -> tuple:
    """What must match between a line and its baseline: every setting but the strategy's,
    and the ``n_labeled`` grid."""
    kind = "config" if line.by_config else "columns"
    kept = sorted(
        (k, v)
        for k, v in line.settings.items()
        if k not in STRATEGY_COLUMNS and k.split(".")[0] not in STRATEGY_NODES
    )
    i = line.identity
    return (kind, i["dataset"], i["model"], tuple(kept), tuple(line.n_labeled.tolist()))


def pair_runs(line: Line, baseline: Line) -> Comparison:
    """The seeds both lines ran once each (in the line's order), with both runs' values."""

    def once(ln: Line) -> dict[str, np.ndarray]:
        seeds = [r.seed for r in ln.runs]
        return {r.seed: r.values for r in ln.runs if seeds.count(r.seed) == 1}

    mine, theirs = once(line), once(baseline)
    seeds = [s for s in mine if s in theirs]
    points = len(line.n_labeled)
    return Comparison(
        baseline,
        seeds,
        np.array([mine[s] for s in seeds], dtype=float).reshape(len(seeds), points),
        np.array([theirs[s] for s in seeds], dtype=float).reshape(len(seeds), points),
    )


def compare_lines(lines: list[Line], baseline: str) -> tuple[list[Comparison | None], list[str]]:
    """Each line's comparison with its baseline line, and why a line has none ("" where it has
    one, or is a line of the baseline strategy: those are compared with nothing)."""
    candidates: dict[tuple, list[Line]] = {}
    for line in lines:
        if line.identity["strategy"] == baseline:
            candidates.setdefault(other_settings(line), []).append(line)
    comparisons: list[Comparison | None] = []
    reasons = []
    for line in lines:
        comparison, reason = None, ""
        matches = candidates.get(other_settings(line), [])
        if line.identity["strategy"] == baseline:
            pass
        elif not matches:
            reason = f"no {baseline} line with the same other settings"
        elif len(matches) > 1:
            names = ", ".join(m.label for m in matches)
            reason = f"{len(matches)} {baseline} lines match ({names})"
        else:
            comparison = pair_runs(line, matches[0])
            if not comparison.pairs:
                comparison, reason = None, f"no seed in common with {matches[0].label}"
        comparisons.append(comparison)
        reasons.append(reason)
    return comparisons, reasons


def t_interval(d: np.ndarray) -> tuple[float, float, float]:
    """Mean of the paired differences and its 95% Student-t interval (n - 1 degrees of
    freedom); the interval is NaN below two pairs, everything NaN with none."""
    d = np.asarray(d, dtype=float)
    n = len(d)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(d.mean())
    if n < 2:
        return mean, math.nan, math.nan
    from scipy.stats import t  # only here: scipy is slow to import

    half = float(t.ppf(0.975, n - 1)) * float(d.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half


def signed_rank_p(d: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of the paired differences (scipy, zero
    differences dropped, exact for up to 50 pairs without ties); 1 when every difference is
    zero, NaN with no pairs."""
    d = np.asarray(d, dtype=float)
    if len(d) == 0:
        return math.nan
    if np.all(d == 0):
        return 1.0
    from scipy.stats import wilcoxon

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns that n is small; the note says so
        return float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def wins_ties_losses(d: np.ndarray, lower: bool) -> tuple[int, int, int]:
    """Seeds where the line beats its baseline, equals it, and trails it."""
    d = np.asarray(d, dtype=float)
    better = d < 0 if lower else d > 0
    worse = d > 0 if lower else d < 0
    return int(better.sum()), int((d == 0).sum()), int(worse.sum())


def differences(line_values: np.ndarray, base_values: np.ndarray) -> np.ndarray:
    """``line - baseline``, with differences below ``TIE`` set to exactly zero."""
    d = np.asarray(line_values, dtype=float) - np.asarray(base_values, dtype=float)
    return np.where(np.abs(d) < TIE, 0.0, d)


def paired_stats(d: np.ndarray, lower: bool) -> dict[str, float | int]:
    """Everything the table says about one set of paired differences."""
    mean, low, high = t_interval(d)
    wins, ties, losses = wins_ties_losses(d, lower)
    return {
        "diff": mean,
        "diff_low": low,
        "diff_high": high,
        "p_value": signed_rank_p(d),
        "wins": wins,
        "ties": ties,
        "losses": losses,
    }


def small_n_note(pairs: int) -> str:
    """Why a p-value above 0.05 says little with few pairs; empty from ``MIN_PAIRS`` pairs."""
    if not 0 < pairs < MIN_PAIRS:
        return ""
    return f"n too small: {pairs} pair{'s' * (pairs != 1)}, smallest possible p {2 / 2**pairs:.3g}"
