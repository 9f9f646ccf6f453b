"""Where ``al plot`` writes: a hidden folder beside ``--out``, moved into place at the end.

A Ctrl-C or an error halfway through drawing then leaves ``--out`` as it was (or not made at
all), and the moves hold Ctrl-C off, so ``--out`` holds either its earlier figures and tables or
all of the new ones, never some of each.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from al_cli.files import missing_folders, remove_empty


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """An empty folder to write ``out``'s files into, removed on leaving (``publish`` empties
    it), as are the parents of ``out`` it had to make if ``out`` was never made."""
    real = out.resolve()
    made = missing_folders(real.parent)
    try:
        for folder in reversed(made):
            folder.mkdir()
        stage = make_stage(real)
        try:
            yield stage
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    except BaseException:
        remove_empty(made)
        raise


def make_stage(out: Path) -> Path:
    """A new hidden folder on the file system of ``out``, so that renames move its files in:
    beside ``out``, or inside an existing ``out`` whose parent cannot take it (read-only, or
    another file system when ``out`` is a mount point)."""
    name = f".{out.name[:64]}.{uuid.uuid4().hex[:12]}.tmp"
    places = [out.parent]
    if out.is_dir():
        if os.stat(out.parent).st_dev != os.stat(out).st_dev:
            places = []
        places.append(out)
    for place in places[:-1]:
        with contextlib.suppress(OSError):
            (place / name).mkdir()
            return place / name
    (places[-1] / name).mkdir()
    return places[-1] / name


def publish(stage: Path, out: Path) -> None:
    """Move the staged files into ``out``, with Ctrl-C held off meanwhile: the whole folder in
    one rename when ``out`` does not exist, else file by file, each replacing its namesake
    (other files in ``out`` stay)."""
    real = out.resolve()
    with interrupt_held_off():
        if not real.exists() and stage.parent == real.parent:
            os.rename(stage, real)
        else:
            for path in sorted(stage.iterdir()):
                os.replace(path, real / path.name)


@contextlib.contextmanager
def interrupt_held_off() -> Iterator[None]:
    """Ignore SIGINT in the body (a few renames): stopped halfway, ``--out`` would hold a mix.
    A Ctrl-C meanwhile comes after the work is done and is dropped. Only the main thread can
    set signal handlers; elsewhere the body runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
