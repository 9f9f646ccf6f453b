"""al: a command-line runner for pool-based active learning experiments."""

__version__ = "0.1.0"
