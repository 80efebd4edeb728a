"""rassflow.scheduler: Snakemake's scheduler keeps one pending re-evaluation timer."""

from __future__ import annotations

import threading
import time

from snakemake.scheduling.job_scheduler import JobScheduler

from rassflow.scheduler import coalesce_reevaluations


class Loop:
    """What the patched method touches of a JobScheduler: the semaphore its loop waits on."""

    def __init__(self):
        self._open_jobs = threading.Semaphore(0)

    def wakeups(self, within: float) -> int:
        count, end = 0, time.monotonic() + within
        while self._open_jobs.acquire(timeout=max(0.0, end - time.monotonic())):
            count += 1
        return count


def test_many_requests_wake_the_loop_once_then_it_can_ask_again():
    assert coalesce_reevaluations() and coalesce_reevaluations()  # idempotent
    loop = Loop()
    for _ in range(50):  # 50 passes (e.g. 50 finished jobs) in one timespan
        JobScheduler._schedule_reevalutation(loop, 0.05)
    assert loop.wakeups(within=0.3) == 1
    JobScheduler._schedule_reevalutation(loop, 0.05)  # the pass it woke asks again
    assert loop.wakeups(within=0.3) == 1


def test_the_timer_does_not_keep_the_process_alive():
    coalesce_reevaluations()
    loop = Loop()
    JobScheduler._schedule_reevalutation(loop, 60.0)
    assert loop._pending_reevaluation.daemon
    loop._pending_reevaluation.cancel()


def test_the_pinned_snakemake_has_the_patched_method():
    """The method the patch replaces exists in the Snakemake the project pins: a release that
    renames it fails here, not silently in the CPU a long run costs."""
    import importlib

    from rassflow.scheduler import PATCHED

    module, cls, method = PATCHED
    assert callable(getattr(getattr(importlib.import_module(module), cls), method))


def test_a_snakemake_without_the_method_gets_a_warning_once(monkeypatch, capsys):
    import io

    import rassflow.scheduler as scheduler

    monkeypatch.setattr(
        scheduler, "PATCHED", ("snakemake.scheduling.job_scheduler", "JobScheduler", "_gone")
    )
    monkeypatch.setattr(scheduler, "_warned", [])
    stream = io.StringIO()
    assert not scheduler.coalesce_reevaluations(warn=stream)
    assert not scheduler.coalesce_reevaluations(warn=stream)
    assert stream.getvalue().count("warning") == 1 and "_gone" in stream.getvalue()
