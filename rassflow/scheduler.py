"""One pending re-evaluation timer for Snakemake's job scheduler.

Snakemake 9's scheduler (snakemake.scheduling.job_scheduler.JobScheduler) ends every
scheduling pass by starting a threading.Timer that wakes the scheduler one rate-limit
timespan later (``--max-jobs-per-timespan``, default 100/1s), and a pass woken by such a
timer starts the next one. Every pass woken by a finished job adds one more such chain, and
none ever ends: after n jobs the scheduler runs about n passes a second, each re-computing
the params of every ready job and stat()-ing their inputs. Measured on the demo survey with
one job per source (175 jobs, 2 cores), the Snakemake process spent 124 s of CPU, and
12 s with this patch, out of ~560 s for the whole run.

:func:`coalesce_reevaluations` makes a pass start a timer only when none is pending. The
scheduler still wakes within one timespan of any pass that asked for it, which is what
the rate limiter needs; the timer is a daemon thread, so that Snakemake exits when its
jobs are done. A Snakemake whose scheduler has no such method (another version) is left
as it is, and the run says so on stderr, once: its scheduler then costs the CPU above again.
"""

from __future__ import annotations

import threading

PATCHED = ("snakemake.scheduling.job_scheduler", "JobScheduler", "_schedule_reevalutation")
_warned = []


def coalesce_reevaluations(warn=None) -> bool:
    """Patch JobScheduler._schedule_reevalutation (Snakemake's spelling) to keep at most one
    pending timer per scheduler; True if patched (also when it already was). When it cannot
    be patched and ``warn`` is a stream, say so there (once per process)."""
    import importlib

    module, cls, method = PATCHED
    try:
        JobScheduler = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError):
        JobScheduler = None
    original = getattr(JobScheduler, method, None)
    if original is None:
        if warn is not None and not _warned:
            _warned.append(True)
            print(
                f"rassflow: warning: this Snakemake has no {module}.{cls}.{method}; its "
                "scheduler keeps one re-evaluation timer per finished job, which costs CPU "
                "in long runs (rassflow/scheduler.py)",
                file=warn,
            )
        return False
    if getattr(original, "coalesced", False):
        return True

    def schedule_reevaluation(self, delay) -> None:
        # called by the scheduler's loop only; the timer clears itself before it wakes the
        # loop, so that the pass it wakes starts the next one
        if getattr(self, "_pending_reevaluation", None) is not None:
            return

        def wake():
            self._pending_reevaluation = None
            self._open_jobs.release()

        timer = threading.Timer(delay, wake)
        timer.daemon = True
        self._pending_reevaluation = timer
        timer.start()

    schedule_reevaluation.coalesced = True
    JobScheduler._schedule_reevalutation = schedule_reevaluation
    return True
