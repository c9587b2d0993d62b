"""Worker threads for reconstruct, and memory handed back between them.

:class:`OrderedWorkers` reads and runs the next blocks of windows in worker threads (each with
its own opened stack, :class:`PerThread`) while the caller blends and writes the previous ones
in order (GDAL, numpy and torch release the GIL while they work). :class:`MemoryTrimmer` hands
the memory freed across threads back to the system.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def _malloc_trim():
    try:
        import ctypes
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_trim = _malloc_trim()


class MemoryTrimmer:
    """Hands freed heap memory back to the system now and then (glibc only).

    Blocks are allocated in worker threads and freed in the caller's; glibc keeps such freed
    memory in its per-thread arenas, and the resident size creeps up with the raster. Calling
    ``malloc_trim`` every ``interval`` seconds keeps it flat at a cost of well under 1 %.
    """

    def __init__(self, interval: float = 2.0) -> None:
        self.interval, self.last = interval, time.monotonic()

    def __call__(self, force: bool = False) -> None:
        now = time.monotonic()
        if _trim is not None and (force or now - self.last >= self.interval):
            _trim(0)
            self.last = time.monotonic()


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class OrderedWorkers:
    """``fn(item)`` for each item on ``workers`` threads, at most ``ahead`` items in flight;
    results come back in item order.

    Use as a context manager and iterate :meth:`results`. ``fn`` should return early when
    :attr:`stop` is set. Leaving the block (a cancel, an error) sets :attr:`stop`, drops the
    items not started and waits for the ones running, so the caller may close what ``fn`` reads
    right after. An exception in ``fn`` is raised in the caller's thread when its item comes up.
    """

    def __init__(self, fn: Callable[[T], R], items: Iterable[T], workers: int = 1,
                 ahead: int = 2) -> None:
        self.fn, self.items = fn, iter(items)
        self.ahead = max(1, ahead)
        self.stop = threading.Event()
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="smts-work")
        self._pending: deque = deque()

    def _submit(self) -> None:
        for item in self.items:
            self._pending.append((item, self._pool.submit(self.fn, item)))
            return

    def results(self, poll: Callable[[], None] = lambda: None,
                interval: float = 0.1) -> Iterator[tuple[T, R]]:
        """Yield (item, fn(item)) in order; call ``poll`` every ``interval`` s while waiting
        (e.g. ``feedback.check``, which raises on a cancel)."""
        for _ in range(self.ahead):
            self._submit()
        while self._pending:
            item, future = self._pending[0]
            while True:
                poll()
                try:
                    result = future.result(timeout=interval)
                    break
                except FutureTimeout:
                    continue
            self._pending.popleft()
            self._submit()
            yield item, result

    def close(self) -> None:
        self.stop.set()
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "OrderedWorkers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PerThread:
    """One object per thread, made by ``factory`` on first use; :meth:`close` closes them all."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self.factory = factory
        self._local = threading.local()
        self._made: list = []
        self._lock = threading.Lock()

    def get(self) -> T:
        obj = getattr(self._local, "obj", None)
        if obj is None:
            obj = self._local.obj = self.factory()
            with self._lock:
                self._made.append(obj)
        return obj

    def close(self) -> None:
        with self._lock:
            for obj in self._made:
                obj.close()
            self._made.clear()
