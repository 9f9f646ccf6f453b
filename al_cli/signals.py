"""How a run stops: SIGINT and SIGTERM stop it after the current round (a second one at once),
and inside a submitit job SIGTERM stops it at once, before SLURM's SIGKILL.

Kept light (no torch): standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

SignalHandler = Callable[[int, Any], Any]


@contextlib.contextmanager
def stop_on_signals() -> Iterator[Callable[[], int | None]]:
    """Turn the first SIGINT or SIGTERM into a stop after the current round; a second one stops
    at once (the checkpoint of the last round is already safe). Yields a function that returns
    the signal received, or None. A handler someone else installed (submitit's checkpoint and
    requeue) is left in place, and so is everything outside the main thread; inside a submitit
    job, where SIGKILL follows SIGTERM within seconds, SIGTERM stops at once."""
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        print(
            f"al run: {signal.Signals(signum).name} received; stopping after this round "
            f"(send it again to stop now)",
            file=sys.stderr,
            flush=True,
        )

    def stop_now(signum: int, frame: Any) -> None:
        if signum in received:  # already stopping: a repeat of the same signal
            return
        received.insert(0, signum)
        print(
            f"al run: {signal.Signals(signum).name} received; stopping now "
            f"(the scheduler kills the job in seconds)",
            file=sys.stderr,
            flush=True,
        )
        raise KeyboardInterrupt

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler):
                previous[sig] = signal.signal(sig, handler)
        previous.update(take_over_submitit_sigterm(stop_now))
    try:
        yield lambda: received[0] if received else None
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def is_submitit_handler(handler: Any) -> bool:
    """Whether ``handler`` is a method of submitit's signal handler inside a submitit job."""
    owner = getattr(handler, "__self__", None)
    return type(owner).__module__.startswith("submitit.")


def take_over_submitit_sigterm(stop_now: SignalHandler) -> dict[int, Any]:
    """Inside a submitit job, let SIGTERM call ``stop_now``; returns the handlers replaced.

    submitit ignores SIGTERM, but SLURM sends it on ``scancel``, at the time limit and on
    preemption, then SIGKILL ``KillWait`` seconds later (30 by default): the job would die
    mid-round with its run recorded as running. One exception: while submitit's own handler
    of the preemption signal (SIGUSR2) requeues the job, the SIGTERM that the requeue brings is
    ignored, as submitit does, so that it exits in its own way and the job runs again."""
    if not is_submitit_handler(signal.getsignal(signal.SIGTERM)):
        return {}
    name = "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
    preempt = getattr(signal, name, signal.SIGUSR2)
    if preempt == signal.SIGTERM:  # SIGTERM is submitit's requeue signal here: leave it
        return {}
    submitit_preempt = signal.getsignal(preempt)
    requeueing: list[bool] = []

    def on_sigterm(signum: int, frame: Any) -> Any:
        if not requeueing:
            return stop_now(signum, frame)

    def on_preempt(signum: int, frame: Any) -> Any:
        requeueing.append(True)
        return submitit_preempt(signum, frame)  # type: ignore[operator]

    replaced = {signal.SIGTERM: signal.signal(signal.SIGTERM, on_sigterm)}
    if is_submitit_handler(submitit_preempt):
        replaced[preempt] = signal.signal(preempt, on_preempt)
    return replaced
