"""What the benchmarks share: the workflow's batches rebuilt outside Snakemake, and timing.

batch_sources gives the sources of each skyfield's batch from the run's own plan
(rassflow.plan), so that a benchmark can call rassflow.batch.make_batch_products /
measure_batch on exactly the files a workflow run makes.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time


def merged(base: dict, update: dict) -> dict:
    """``update`` over ``base``, nested dicts merged, as Snakemake merges --configfile."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def timed(command, cwd, log, env=None) -> dict:
    """{wall_s, cpu_s, peak_rss_mb} of one command, its output in ``log``; exits if it
    fails. CPU is user+sys of the command and everything it waited for (os.wait4); the peak
    is wait4's ru_maxrss, which on Linux includes this process's own peak at the fork."""
    start = time.perf_counter()
    with open(log, "w") as handle:
        proc = subprocess.Popen(command, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code:
        sys.exit(f"{' '.join(map(str, command))} failed ({code}), see {log}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def batch_sources(config: dict, workdir: str = ".") -> dict[str, list[dict]]:
    """{seq: the sources of its per_skyfield batch} of the run in ``workdir`` whose match
    checkpoint has run (a validated config), with paths relative to ``workdir`` as the
    run's jobs see them: rassflow.plan's Plan of that run."""
    from rassflow.plan import Layout, Plan

    tables = Layout(f"{workdir}/{config['results_dir']}")
    plan = Plan.from_tables(
        {**config, "granularity": "per_skyfield"}, tables.sample, tables.members, tables.neighbours
    )
    return {seq: plan.batch_sources(seq, tag) for seq, tag in plan.batches}
