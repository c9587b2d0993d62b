"""Many stacks in one go, on this machine or on a Dask cluster: one task a stack.

An agency fills a region's seasons, one stack per area or tile. ``batch`` reads their list
from a JSON file and runs :func:`.reconstruct.reconstruct` on each, in turn here, or as tasks
of a ``dask.distributed`` cluster (``scheduler``: its address) whose workers read the inputs
from paths they all see (a shared file system, GDAL's ``/vsis3/`` or ``/vsicurl/``). Each
stack's outputs are all or nothing as in a single run (written under temporary names, renamed
at its end); a worker lost mid-run costs only its task: Dask runs it again elsewhere, and the
folder lock of the dead process is taken over and its parts removed (same computer; on a
cluster of several computers a lock of a lost one is refused until removed). A stack that
fails (a bad input) is reported with its message; the others go on. Dask is needed only with
a scheduler; the QGIS plugin never imports it.

The batch file: ``[{"name": "tile 31UES", "msi": [...], "masks": [...], "sar": [...],
"out": "filled/31UES"}, ...]``; ``masks``, ``sar`` and ``name`` are optional; relative paths
are taken from the file's folder.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .errors import Cancelled, CloudFillError
from .progress import Feedback, SubFeedback


@dataclass
class StackJob:
    """One stack of a batch: its per-date rasters and where its outputs go."""

    name: str
    msi: list[str]
    out: str
    masks: list[str] | None = None
    sar: list[str] | None = None


@dataclass
class StackOutcome:
    """What became of one stack: the files written, or why none were."""

    name: str
    ok: bool
    written: list[str] = field(default_factory=list)
    message: str = ""


def read_batch(path: str) -> list[StackJob]:
    """The stacks listed in a batch file (see the module's docstring)."""
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except OSError as e:
        raise CloudFillError(f"Cannot read the batch file '{path}': {e.strerror}.") from None
    except ValueError as e:
        raise CloudFillError(f"The batch file '{path}' is not valid JSON: {e}.") from None
    if not isinstance(entries, list) or not entries:
        raise CloudFillError(f"The batch file '{path}' lists no stack (a JSON list of "
                             '{"msi": [...], "out": "..."} entries is expected).')
    base = os.path.dirname(os.path.abspath(path))
    def where(p: str) -> str:
        return p if "://" in p or p.startswith("/vsi") else os.path.join(base, p)
    jobs = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not e.get("msi") or not e.get("out"):
            raise CloudFillError(f"Stack {i + 1} of '{path}' needs 'msi' (a list of rasters) and "
                                 "'out' (its output folder).")
        listed = lambda key: None if not e.get(key) else [where(p) for p in e[key]]  # noqa: E731
        jobs.append(StackJob(str(e.get("name") or f"stack {i + 1}"), listed("msi"),
                             where(e["out"]), listed("masks"), listed("sar")))
    outs = [os.path.realpath(j.out) for j in jobs]
    if len(set(outs)) != len(outs):
        raise CloudFillError(f"Two stacks of '{path}' write to one output folder: give each its "
                             "own 'out'.")
    return jobs


class _ClusterCancel(Feedback):
    """A task's feedback on a worker: cancelled when the client sets the batch's Dask Event
    (looked at most once a second: each look asks the scheduler)."""

    def __init__(self, event: str) -> None:
        self.event, self.last, self.set = event, 0.0, False

    def is_cancelled(self) -> bool:
        import time
        if not self.set and time.monotonic() - self.last > 1.0:
            from distributed import Event
            self.last = time.monotonic()
            self.set = Event(self.event).is_set()
        return self.set


def usual_malloc() -> None:
    """Give glibc's allocator back its usual thresholds in a Dask worker. Dask's nanny starts
    workers with MALLOC_TRIM_THRESHOLD_=65536, which also fixes the mmap threshold: every large
    array is then mapped and unmapped anew, and a fill ran 3x slower (49 s against 16 s for a
    512 px stack on one thread, measured)."""
    import ctypes
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)    # M_MMAP_THRESHOLD
        libc.mallopt(-1, 128 << 20)   # M_TRIM_THRESHOLD
    except (OSError, AttributeError):   # not glibc: nothing to undo
        pass


def run_stack(job: StackJob, options: dict, cancel_event: str | None = None) -> StackOutcome:
    """Fill one stack (where a task runs: a worker, or here). A refused or cancelled stack is
    an outcome, not an error: the batch goes on (or stops, on a cancel)."""
    from .reconstruct import reconstruct
    if cancel_event is not None:   # a task on a Dask worker
        usual_malloc()
        options = {**options, "feedback": _ClusterCancel(cancel_event)}
    try:
        results = reconstruct(job.msi, job.out, masks=job.masks, sar=job.sar, **options)
    except Cancelled as e:
        if cancel_event is None:
            raise
        return StackOutcome(job.name, False, message=str(e))
    except CloudFillError as e:
        return StackOutcome(job.name, False, message=str(e))
    return StackOutcome(job.name, True, [r.path for r in results],
                        f"{len(results)} cloudy date{'s' if len(results) != 1 else ''} filled")


def run_batch(jobs: list[StackJob], options: dict | None = None, scheduler: str | None = None,
              feedback: Feedback | None = None) -> list[StackOutcome]:
    """Every stack, here in turn or on the cluster at ``scheduler``; outcomes in the jobs'
    order. ``options``: keyword arguments of ``reconstruct`` (weights, device, self_check...)."""
    feedback = feedback or Feedback()
    options = dict(options or {})
    if scheduler is None:
        outcomes = []
        for i, job in enumerate(jobs):
            feedback.check()
            feedback.progress(i / len(jobs), f"Stack {job.name}")
            part = SubFeedback(feedback, i / len(jobs), (i + 1) / len(jobs))
            outcomes.append(run_stack(job, {**options, "feedback": part}))
            _say(feedback, outcomes[-1])
        feedback.progress(1.0)
        return outcomes
    return _on_cluster(jobs, options, scheduler, feedback)


def _say(feedback: Feedback, outcome: StackOutcome) -> None:
    if outcome.ok:
        feedback.info(f"{outcome.name}: {outcome.message}.")
    else:
        feedback.warn(f"{outcome.name}: not filled: {outcome.message}")


def _on_cluster(jobs: list[StackJob], options: dict, scheduler: str,
                feedback: Feedback) -> list[StackOutcome]:
    import uuid

    from .fill.cluster import connect
    client = connect(scheduler)
    from distributed import Event, wait
    stop = f"smts-cancel-{uuid.uuid4().hex}"
    with client:
        futures = {client.submit(run_stack, job, options, stop, key=f"smts-stack-{i}-{stop}",
                                 pure=False): i for i, job in enumerate(jobs)}
        outcomes: list[StackOutcome | None] = [None] * len(jobs)
        pending = set(futures)
        while pending:
            if feedback.is_cancelled():
                # Running tasks see the event within a second and drop their outputs.
                Event(stop, client=client).set()
                wait(list(pending))
                raise Cancelled("Cancelled by the user: the stacks already filled are kept, "
                                "the others were not written.")
            try:
                done = wait(list(pending), timeout=0.5, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                continue
            for future in done:
                pending.discard(future)
                i = futures[future]
                try:
                    outcomes[i] = future.result()
                except CloudFillError as e:
                    outcomes[i] = StackOutcome(jobs[i].name, False, message=str(e))
                except Exception as e:  # noqa: BLE001 (a worker lost too often, say so)
                    outcomes[i] = StackOutcome(jobs[i].name, False,
                                               message=f"{type(e).__name__}: {e}")
                _say(feedback, outcomes[i])
            feedback.progress((len(jobs) - len(pending)) / len(jobs))
    return [o for o in outcomes if o is not None]
