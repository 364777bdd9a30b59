"""The second core: one independent piece of a run in a forked child process.

``assess`` and the writing of its outputs hold pieces of work that read the same data in memory
and produce independent results: the metrics while the audit runs, the unit maps while the
charts are drawn, the tables while the pages are written and printed. A forked child sees the
parent's memory as it is, without copying or pickling it (copy-on-write), so only the piece's
result, which is small, comes back through a pipe.

A child is forked only where that is safe and pays (:func:`fork_usable`): on Linux, with two
CPUs or more, in a process running a single thread (a fork copies only the calling thread, so a
lock another thread held stays locked in the child; Jupyter kernels and Dask workers run
threads), when the memory available is at least the process's resident size. Elsewhere, or with ``FARMLAND_JOBS=1``, the piece runs in this process first, with the
same results; docs/performance.md has the figures.

:func:`apart` uses the same child for another end: memory. ``assess --by-county`` validates and
computes each county in a child of its own, so the run holds one county's layers at a time.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator

from .errors import FarmlandError

JOBS_ENV = "FARMLAND_JOBS"
"""Environment variable: ``1`` keeps every piece of a run in one process."""


class ChildFailed(FarmlandError):
    """The child process ended without a result (killed, or out of memory)."""


class RemoteTraceback(Exception):
    """The child's traceback, chained to the exception re-raised in the parent."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _memory_allows() -> bool:
    """Whether the memory available is at least this process's resident size: a child's own
    allocations and the pages it copies on write came to 40–50 % of its parent's on the
    300 000- and 1 000 000-parcel cities, so this leaves a margin before the machine would swap."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            available = next(int(line.split()[1]) for line in meminfo if line.startswith("MemAvailable:")) * 1024
        with open("/proc/self/statm", encoding="ascii") as statm:
            resident = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, StopIteration, ValueError):
        return False
    return available >= resident


def until_exited(native_ids, timeout: float = 5.0) -> None:
    """Wait until the threads ``native_ids`` (``threading.get_native_id()``) have left the
    operating system, not only Python.

    ``Thread.join`` returns when a thread's Python part is done; the thread then still runs its
    native clean-up (thread-local destructors: GDAL's PROJ context closes its SQLite handle
    there) for about a millisecond. A fork in that window copies the locks it holds, and a child
    that takes one (PROJ's after-fork handler frees SQLite memory) waits forever. Linux only, as
    forking is; elsewhere, and after ``timeout`` seconds, it returns at once.
    """
    deadline = time.monotonic() + timeout
    for native_id in native_ids:
        while os.path.exists(f"/proc/self/task/{native_id}") and time.monotonic() < deadline:
            time.sleep(0.0002)


def fork_usable() -> bool:
    """Whether :func:`alongside` forks: two CPUs or more and :func:`_fork_safe`."""
    return _cpus() >= 2 and _fork_safe()


def _fork_safe() -> bool:
    """Linux, one thread, enough free memory (:func:`_memory_allows`), and ``FARMLAND_JOBS`` not 1."""
    if os.environ.get(JOBS_ENV, "").strip() == "1":
        return False
    return sys.platform.startswith("linux") and _single_threaded() and _memory_allows()


def _single_threaded() -> bool:
    return threading.active_count() == 1


class SideJob:
    """A piece of work started by :func:`alongside`; :meth:`result` waits for it."""

    def __init__(self):
        self._done = False
        self._value = None
        self._error: BaseException | None = None
        self._process = None
        self._connection = None

    @property
    def forked(self) -> bool:
        """True when the piece runs in a child process."""
        return self._process is not None

    def result(self):
        """The piece's return value; its exception is raised here."""
        if not self._done:
            self._collect()
        if self._error is not None:
            raise self._error
        return self._value

    def _collect(self) -> None:
        self._done = True
        try:
            ok, payload = self._connection.recv()
        except EOFError:
            self._process.join()
            self._error = ChildFailed(
                f"the process working alongside ended without a result (exit code {self._process.exitcode}; "
                "out of memory?); run again with FARMLAND_JOBS=1 to keep the run in one process")
            return
        finally:
            self._connection.close()
        self._process.join()
        if ok:
            self._value = payload
        else:
            error, text = pickle.loads(payload) if isinstance(payload, bytes) else (None, payload)
            if error is None:
                error = ChildFailed(text.strip().splitlines()[-1])
            error.__cause__ = RemoteTraceback(text)
            self._error = error

    def _stop(self) -> None:
        self._done = True
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._connection.close()


def _child(connection, fn, args, kwargs) -> None:
    try:
        connection.send((True, fn(*args, **kwargs)))  # a result that cannot be pickled fails here too
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        text = traceback.format_exc()
        try:
            payload = pickle.dumps((exc, text))
            pickle.loads(payload)  # an exception class that cannot be rebuilt goes back as text
        except Exception:  # noqa: BLE001
            payload = text
        connection.send((False, payload))


@contextlib.contextmanager
def alongside(fn: Callable, /, *args, **kwargs) -> Iterator[SideJob]:
    """Run ``fn(*args, **kwargs)`` while the block runs; leave the block when both are done.

    Forked (:func:`fork_usable`), ``fn`` starts in a child process at once and the block runs
    here; otherwise ``fn`` runs here before the block. ``fn`` must not change state the parent
    relies on afterwards (a child's changes stay in the child): it returns what the parent needs.
    The block may wait for the value with :meth:`SideJob.result`; leaving the block waits for it
    and raises ``fn``'s exception, if any. When the block fails, the child is stopped first.
    """
    with _started(fork_usable(), fn, args, kwargs) as job:
        yield job


def in_turn(fn: Callable, /, *args, **kwargs) -> contextlib.AbstractContextManager[SideJob]:
    """:func:`alongside` that never forks: ``fn`` runs here, before the block (a run that keeps
    one piece in memory at a time)."""
    return _started(False, fn, args, kwargs)


def apart(fn: Callable, /, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a forked child that exits when it is done, so every page it
    allocated goes back to the system; only its result (pickled) comes back. Used to hold one
    county's layers at a time (``assess --by-county``): a process's heap rarely shrinks after a
    large piece of work, a child's ends with it. Forks on one CPU too (:func:`_fork_safe`);
    otherwise ``fn`` runs here, with the same result.
    """
    with _started(_fork_safe(), fn, args, kwargs) as job:
        pass
    return job.result()


@contextlib.contextmanager
def _started(fork: bool, fn: Callable, args, kwargs) -> Iterator[SideJob]:
    job = SideJob()
    if not fork:
        job._done = True
        job._value = fn(*args, **kwargs)
        yield job
        return
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    job._process = context.Process(target=_child, args=(sending, fn, args, kwargs), daemon=True,
                                   name="farmland-alongside")
    job._connection = receiving
    job._process.start()
    sending.close()
    try:
        yield job
        job.result()
    except BaseException:
        job._stop()  # an interrupted or failed run leaves no process writing behind it
        raise
