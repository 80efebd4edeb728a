"""Run this workflow in a subprocess: how the tests and the benchmarks start Snakemake.

Snakemake runs in its own process group; after ``timeout`` s the whole group is killed
(an executor can wait forever on a status it cannot read and ignore SIGTERM), and
TimeoutError is raised with the end of its output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

SNAKEFILE = Path(__file__).resolve().parent.parent / "workflow" / "Snakefile"


def snakemake_command(workdir, configfiles=(), *args, cores: int = 2) -> list[str]:
    """The command line of a run of this workflow in ``workdir``."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE)]
    command += ["--directory", str(workdir)]
    if configfiles:
        command += ["--configfile", *map(str, configfiles)]
    if cores:
        command += ["--cores", str(cores)]
    return [*command, *map(str, args)]


def run_command(command, cwd=None, env=None, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``command``; stdout holds stdout and stderr together."""
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        raise TimeoutError(
            f"{' '.join(command)} killed after {timeout} s:\n{output[-4000:]}"
        ) from None
    return subprocess.CompletedProcess(command, proc.returncode, output, "")
