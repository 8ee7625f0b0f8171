"""Where independent jobs run: this process, a local process pool, or Ray.

One machinery for every command that runs independent jobs (``collect``'s chunks, ``evaluate``'s
session batches, ``reproduce``'s stages). A command names a :class:`Backend` and opens
:func:`job_runner` with a worker initialiser ``init(*initargs)`` (builds the worker's state once:
a catalog, devices, a policy) and submits jobs ``task(state, *args)``; :meth:`JobRunner.completed`
yields ``(key, result)`` as jobs finish, in any order, including jobs submitted while it runs.

- ``local`` with one worker: the jobs run here, in order of submission.
- ``local`` with W > 1 workers: a spawn-started process pool
  (:func:`textrec.processes.process_pool`).
- ``ray``: W Ray actors (one CPU each) on the cluster at ``address`` (``None``: ``RAY_ADDRESS`` or
  a new local one); a cluster started here is shut down at the end. Every node must import
  textrec and see the files the jobs read and write (a shared file system).

Each job is seeded by itself, so the results are the same numbers whichever backend runs them;
workers run torch and BLAS on one thread (as :func:`textrec.processes.init_worker` does).
"""

from __future__ import annotations

import abc
import contextlib
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from typing import Any

from textrec.errors import InputError
from textrec.processes import process_pool

__all__ = ["BACKENDS", "Backend", "JobRunner", "job_runner", "import_ray"]

BACKENDS = ("local", "ray")
"""'local' (this process, or a process pool when workers > 1) or 'ray'."""


@dataclass(frozen=True)
class Backend:
    """Where jobs run: ``name`` in :data:`BACKENDS`, ``workers`` at once, Ray's ``address``."""

    name: str = "local"
    workers: int = 1
    address: str | None = None

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise InputError(f"--backend must be one of {list(BACKENDS)}, got {self.name!r}")
        if self.workers < 1:
            raise InputError(f"--workers must be >= 1, got {self.workers}")
        if self.address is not None and self.name != "ray":
            raise InputError("--ray-address needs --backend ray")

    @property
    def in_process(self) -> bool:
        """True when the jobs run in this process (local, one worker)."""
        return self.name == "local" and self.workers == 1


def import_ray() -> Any:
    """The ``ray`` module; :class:`InputError` naming the extra when it is not installed."""
    try:
        import ray
    except ImportError:
        raise InputError(
            "backend 'ray' needs Ray, which is not installed: pip install 'textrec[ray]'"
        ) from None
    return ray


class JobRunner(abc.ABC):
    """Submit ``task(state, *args)`` under a key; :meth:`completed` yields ``(key, result)``."""

    @abc.abstractmethod
    def submit(self, key: Hashable, task: Callable[..., Any], *args: Any) -> None:
        """Queue ``task(state, *args)``; its result comes back under ``key``."""

    @abc.abstractmethod
    def completed(self) -> Iterator[tuple[Hashable, Any]]:
        """``(key, result)`` of each job as it finishes, until none is pending."""


class _InProcess(JobRunner):
    def __init__(self, state: Any) -> None:
        self._state, self._queue = state, deque()

    def submit(self, key: Hashable, task: Callable[..., Any], *args: Any) -> None:
        self._queue.append((key, task, args))

    def completed(self) -> Iterator[tuple[Hashable, Any]]:
        while self._queue:
            key, task, args = self._queue.popleft()
            yield key, task(self._state, *args)


_STATE: list[Any] = []
"""A pool worker's state (built by its initialiser)."""


def _init_state(init: Callable[..., Any], *initargs: Any) -> None:
    _STATE[:] = [init(*initargs)]


def _call(task: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return task(_STATE[0], *args)


class _Pool(JobRunner):
    def __init__(self, pool: Any) -> None:
        self._pool, self._pending = pool, {}

    def submit(self, key: Hashable, task: Callable[..., Any], *args: Any) -> None:
        self._pending[self._pool.submit(_call, task, args)] = key

    def completed(self) -> Iterator[tuple[Hashable, Any]]:
        while self._pending:
            done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
            for future in done:
                key = self._pending.pop(future)
                yield key, future.result()


class _RayWorker:
    """A Ray actor holding one worker's state."""

    def __init__(self, init: Callable[..., Any], *initargs: Any) -> None:
        import torch
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        torch.set_num_threads(1)
        self.state = init(*initargs)

    def run(self, key: Hashable, task: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        return key, task(self.state, *args)


class _Ray(JobRunner):
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def submit(self, key: Hashable, task: Callable[..., Any], *args: Any) -> None:
        self._pool.submit(lambda actor, job: actor.run.remote(*job), (key, task, args))

    def completed(self) -> Iterator[tuple[Hashable, Any]]:
        while self._pool.has_next():
            yield self._pool.get_next_unordered()


@contextlib.contextmanager
def job_runner(
    backend: Backend,
    init: Callable[..., Any],
    initargs: tuple[Any, ...] = (),
    state: Any = None,
) -> Iterator[JobRunner]:
    """A :class:`JobRunner` on ``backend`` whose workers' state is ``init(*initargs)``.

    ``state``: the in-process state when the caller built it already (else built here). ``init``,
    the tasks and their arguments must pickle (module-level functions) for the pool and Ray.
    """
    if backend.in_process:
        yield _InProcess(init(*initargs) if state is None else state)
    elif backend.name == "local":
        with process_pool(backend.workers, _init_state, (init, *initargs)) as pool:
            yield _Pool(pool)
    else:
        yield from _ray_runner(backend, init, initargs)


def _ray_runner(
    backend: Backend, init: Callable[..., Any], initargs: tuple[Any, ...]
) -> Iterator[JobRunner]:
    ray = import_ray()
    from ray.util import ActorPool

    started = not ray.is_initialized()
    if started:  # the cluster at --ray-address, RAY_ADDRESS's, or a new local one
        ray.init(address=backend.address, include_dashboard=False, log_to_driver=False)
    try:
        actor = ray.remote(num_cpus=1)(_RayWorker)
        refs = tuple(ray.put(a) for a in initargs)  # one copy in the object store for all actors
        yield _Ray(ActorPool([actor.remote(init, *refs) for _ in range(backend.workers)]))
    finally:
        if started:
            ray.shutdown()
