"""One fill's blocks as tasks of a Dask cluster (``FillSettings.scheduler``).

The client (the run) plans, self-checks, blends and writes as on one machine; only the blocks'
reading and model runs (:func:`.batches.run_block`) go to the cluster's workers, which read the
inputs and the weights from paths they all see (a shared file system, GDAL's ``/vsis3/`` or
``/vsicurl/``). The client keeps a few blocks in flight per worker thread and takes the results
in the blocks' order, so the blend, and the outputs, are the bits of a run on one machine. A
worker lost mid-run costs only its blocks: Dask runs them again elsewhere. A cancel drops the
blocks in flight. Dask is imported only here, only when a scheduler is given.
"""
from __future__ import annotations

import collections
import contextlib
import threading
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from ..choose.candidates import FillPlan
from ..errors import CloudFillError

#: A worker process's open stacks (one per thread and fill) and models (one per weights file).
_LOCAL = threading.local()
_MODELS: dict[tuple[str, str], object] = {}
_MODELS_LOCK = threading.Lock()


@dataclass(frozen=True)
class BlockTask:
    """What a worker needs to run a group's blocks: picklable, sent with each block."""

    key: str                          # this group's fill, for the workers' caches
    open_stack: Callable[[], object]  # opens the stack (paths every worker reads)
    weights: str
    device: str                       # 'cpu' or 'cuda' (a worker without CUDA uses its CPU)
    group: object                     # .fill_pass.Group
    plan: FillPlan | None
    size: int
    batch_size: int
    skip_clear: bool


def _model(weights: str, device: str):
    from ..model.weights import load_model
    with _MODELS_LOCK:
        if (weights, device) not in _MODELS:
            _MODELS[(weights, device)] = load_model(weights, device)[0]
        return _MODELS[(weights, device)]


def _stack(task: BlockTask):
    """This worker thread's stack of the task's fill (the one before it closed)."""
    held = getattr(_LOCAL, "stack", None)
    if held is None or held[0] != task.key:
        if held is not None:
            held[1].close()
        _LOCAL.stack = (task.key, task.open_stack())
    return _LOCAL.stack[1]


def run_block_task(task: BlockTask, block) -> tuple:
    """A block of ``task``'s group, read and run on a Dask worker (:func:`.batches.run_block`)."""
    from ..batch import usual_malloc
    from .batches import run_block
    usual_malloc()
    device = task.device if task.device == "cpu" or torch.cuda.is_available() else "cpu"
    return run_block(_stack(task), _model(task.weights, device), torch.device(device),
                     task.group, task.plan, task.size, task.batch_size, task.skip_clear, block)


def connect(scheduler: str):
    """A ``distributed.Client`` of the cluster at ``scheduler``, or a clear error (Dask not
    installed, the scheduler not reachable)."""
    try:
        from distributed import Client
    except ImportError:
        raise CloudFillError("Running on a cluster needs Dask ('make setup' installs it: "
                             "dask[distributed]).") from None
    try:
        return Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as e:
        raise CloudFillError(f"Cannot reach the Dask scheduler at '{scheduler}': {e}") from None


@contextlib.contextmanager
def cluster_client(scheduler: str | None) -> Iterator[object]:
    """One client of the cluster at ``scheduler`` for a run (None without a scheduler),
    closed at its end."""
    if scheduler is None:
        yield None
        return
    client = connect(scheduler)
    try:
        yield client
    finally:
        client.close()


def new_key() -> str:
    return f"smts-fill-{uuid.uuid4().hex}"


def cluster_results(client, task: BlockTask, blocks: list, ahead: int,
                    check: Callable[[], None]) -> Iterator[tuple[object, tuple]]:
    """(block, what :func:`.batches.run_block` returned) in the blocks' order, each run as a
    task of ``client``'s cluster; ``ahead`` blocks in flight beyond one per worker thread.
    ``check`` raises on a cancel: the blocks in flight are dropped."""
    from distributed import wait
    in_flight: collections.deque = collections.deque()
    try:
        room = sum(client.nthreads().values()) + ahead
        todo = iter(enumerate(blocks))

        def submit() -> None:
            for i, block in todo:
                in_flight.append((block, client.submit(run_block_task, task, block, pure=False,
                                                       key=f"{task.key}-{i}")))
                return

        for _ in range(max(1, room)):
            submit()
        while in_flight:
            block, future = in_flight[0]
            while True:
                check()
                try:
                    wait(future, timeout=0.5)
                    break
                except TimeoutError:
                    continue
            try:
                result = future.result()
            except CloudFillError:
                raise
            except Exception as e:  # noqa: BLE001 (a worker lost too often, a task failed)
                raise CloudFillError(f"A block failed on the Dask cluster: "
                                     f"{type(e).__name__}: {e}") from None
            in_flight.popleft()
            submit()
            yield block, result
    finally:
        client.cancel([f for _, f in in_flight])
