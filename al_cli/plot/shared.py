"""What the parts of ``al plot`` share, kept apart from the command (``al_cli.plot``) so that
the parts import it and the command imports the parts, never the other way round."""

from __future__ import annotations

BANDS = {
    "sem": "±1 standard error",
    "std": "±1 standard deviation",
    "ci95": "95% confidence interval",
    "none": "no band",
}
"""``--band`` choices: what the band around a mean curve shows, as its legend says it."""


class PlotError(Exception):
    """A mistake the user can fix (a path, a metric, a key); shown as one line, exit 2."""
