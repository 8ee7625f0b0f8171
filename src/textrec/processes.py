"""Worker processes on one machine: a spawn-started pool that never outlives its parent.

The local pool of :mod:`textrec.backends` (``collect``'s chunks, ``evaluate``'s session batches,
``reproduce``'s stages). :func:`process_pool` starts ``workers`` processes
with the ``spawn`` method (no fork of a process holding torch threads); each runs
:func:`init_worker` before its own initialiser: Ctrl-C is left to the parent, one BLAS and one
torch thread per process (with W workers on W cores more threads only oversubscribe the cores),
and the worker ends itself as soon as its parent is gone (a parent killed with SIGKILL cannot stop
its pool; its workers would otherwise go on writing files nobody reads). When the block using the
pool ends by an error, Ctrl-C or a consumer that stopped early, the workers are terminated at
once instead of finishing their queued jobs.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["process_pool", "init_worker"]


def init_worker(
    parent: int, initializer: Callable[..., None] | None = None, *initargs: Any
) -> None:
    """What every pool worker does first (see the module docstring), then ``initializer``.

    ``parent`` is the PID of the process that made the pool, passed from it: read here with
    ``os.getppid()`` it would be 1 when the parent died before the worker started, and the worker
    would wait for PID 1 to end, for ever.
    """
    import torch
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _exit_with_parent(parent)
    threadpool_limits(1)
    torch.set_num_threads(1)
    if initializer is not None:
        initializer(*initargs)


def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """Start a daemon thread that ends this process as soon as its parent process is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    if os.getppid() != parent:  # the parent is gone already
        os._exit(1)
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@contextlib.contextmanager
def process_pool(
    workers: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` spawned processes; terminated at once unless the block ends cleanly."""
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(os.getpid(), initializer, *initargs),
    )
    finished = False
    try:
        yield pool
        finished = True
    finally:
        if not finished:  # error, Ctrl-C or the consumer stopped: stop the workers now
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
