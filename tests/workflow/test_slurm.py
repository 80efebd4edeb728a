"""The SLURM profile on a real single-node SLURM cluster started by tests/cluster/.

Needs root (the daemons and apt-get) and the slurm executor plugin; skips otherwise.
The cluster has no accounting database, so the executor checks jobs with squeue.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

from rassflow.runner import run_command
from tests.support import REPO

pytestmark = pytest.mark.slurm

CLUSTER_SCRIPTS = REPO / "tests" / "cluster"
PROFILE = REPO / "profiles" / "slurm"
TEST_PARTITION = "local"

# Settings right for this test cluster only, not for real clusters (hence not in the profile):
# its partition, squeue because it has no sacct, and a 2 s (not 40 s) first status check.
# squeue sees finished jobs for MinJobAge = 300 s >= 3 x 2 s, so the executor accepts it.
TEST_OVERRIDES = [
    "--default-resources", f"slurm_partition={TEST_PARTITION}", "runtime=10", "mem_mb=500",
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
]  # fmt: skip

SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")

TOY_SNAKEFILE = """\
# fetch_sample is a local rule, as the workflow's download rules are: it must not reach SLURM.
localrules: all, fetch_sample

ITEMS = ["a", "b"]

rule all:
    input: "total.txt"

rule fetch_sample:
    output: "sample.txt"
    shell: "echo ${{SLURM_JOB_ID:-local}} > {output}"

rule square:
    input: "sample.txt"
    output: "squares/{item}.txt"
    shell: "echo {wildcards.item} ${{SLURM_JOB_ID:-local}} > {output}"

rule total:
    input: expand("squares/{item}.txt", item=ITEMS)
    output: "total.txt"
    shell: "cat {input} > {output}; echo total ${{SLURM_JOB_ID:-local}} >> {output}"
"""


def slurm_job_ids(output):
    """SLURM job ids that the executor reported as submitted in a Snakemake log."""
    return [int(slurm_id) for _, slurm_id in SUBMITTED.findall(output)]


def run_snakemake_on_slurm(workdir, snakefile, extra_args=(), timeout=300):
    """Run Snakemake with profiles/slurm (plus the test-cluster overrides) in `workdir`.

    The profile is given as the workflow profile, as users do, so that it replaces
    profiles/default instead of being overridden by it key by key.

    Snakemake runs in its own process group; after `timeout` s the whole group is killed
    (the executor can wait forever on a status it cannot read, ignoring SIGTERM), the jobs
    it submitted are cancelled, and TimeoutError is raised with the end of its log.
    Returns the CompletedProcess; stdout holds stdout and stderr together.
    """
    args = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(snakefile), "--directory", str(workdir),
        "--workflow-profile", str(PROFILE), *TEST_OVERRIDES, *extra_args,
    ]  # fmt: skip
    try:
        return run_command(args, cwd=workdir, timeout=timeout)
    except TimeoutError as exc:
        job_ids = [str(job_id) for job_id in slurm_job_ids(str(exc))]
        if job_ids:
            subprocess.run(["scancel", *job_ids], check=False)
        raise TimeoutError(f"snakemake on SLURM in {workdir}: {exc}") from None


def slurm_job_state(job_id):
    """JobState of a job that slurmctld still holds (finished jobs stay for MinJobAge)."""
    shown = subprocess.run(
        ["scontrol", "show", "job", str(job_id)], capture_output=True, text=True, check=True
    ).stdout
    return re.search(r"JobState=(\S+)", shown).group(1)


@pytest.fixture(scope="module")
def local_slurm():
    """A single-node SLURM cluster for this module, stopped afterwards."""
    if os.geteuid() != 0:
        pytest.skip("the local SLURM cluster needs root (daemons, apt-get)")
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("snakemake-executor-plugin-slurm is not installed")
    installed = shutil.which("slurmctld") is not None
    if not installed and shutil.which("apt-get") is None:
        pytest.skip("SLURM is not installed and there is no apt-get to install it")
    env = {**os.environ, "LOCAL_SLURM_PARTITION": TEST_PARTITION}
    start = subprocess.run(
        ["bash", str(CLUSTER_SCRIPTS / "start-local-slurm.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    try:
        if start.returncode and not installed and shutil.which("slurmctld") is None:
            pytest.skip(f"could not install the SLURM packages:\n{start.stderr[-2000:]}")
        assert start.returncode == 0, f"start-local-slurm.sh failed:\n{start.stderr[-4000:]}"
        yield TEST_PARTITION
    finally:
        subprocess.run(
            ["bash", str(CLUSTER_SCRIPTS / "stop-local-slurm.sh")],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )


def test_toy_workflow_runs_through_sbatch(local_slurm, tmp_path):
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(TOY_SNAKEFILE)

    run = run_snakemake_on_slurm(tmp_path, snakefile, timeout=240)

    assert run.returncode == 0, f"snakemake failed:\n{run.stdout[-4000:]}"
    job_ids = slurm_job_ids(run.stdout)
    # square a, square b and total went through sbatch; the local rule did not
    assert len(job_ids) == 3, run.stdout[-4000:]
    assert (tmp_path / "sample.txt").read_text().split() == ["local"]
    lines = [line.split() for line in (tmp_path / "total.txt").read_text().splitlines()]
    assert [line[0] for line in lines] == ["a", "b", "total"]
    # every job ran inside the allocation that sbatch reported, and SLURM ran it to the end
    assert sorted(int(line[1]) for line in lines) == sorted(job_ids)
    assert {slurm_job_state(job_id) for job_id in job_ids} == {"COMPLETED"}
    assert all(
        subprocess.run(
            ["squeue", "-h", "-t", "all", "-j", str(job_id), "-o", "%P"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        == local_slurm
        for job_id in job_ids
    )


DEMO_CONFIG = """\
results_dir: results
granularity: per_skyfield
sample: {source: simulated}
crossmatch: {source: simulated}
archive: {source: simulated}
simulation: {seed: 5, n_skyfields: 2, n_stars: 5, xray_fraction: 1.0, n_unrelated_per_field: 0}
fit: {flux_samples: 30}
"""


def test_demo_workflow_on_slurm_matches_the_local_run(local_slurm, tmp_path):
    """The README's cluster command on the demo workflow: every job through sbatch, and the
    same results table as a local run."""
    table = "results/results/rass-spectral-results.csv"
    local, cluster = tmp_path / "local", tmp_path / "cluster"
    for workdir in (local, cluster):
        workdir.mkdir()
        (workdir / "small.yaml").write_text(DEMO_CONFIG)
    subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
         "--directory", str(local), "--configfile", "small.yaml", "--cores", "2"],
        cwd=local, check=True, capture_output=True, timeout=600,
    )  # fmt: skip

    run = run_snakemake_on_slurm(
        cluster, REPO / "workflow" / "Snakefile", ["--configfile", "small.yaml"], timeout=900
    )

    assert run.returncode == 0, f"snakemake failed:\n{run.stdout[-6000:]}"
    job_ids = slurm_job_ids(run.stdout)
    assert len(job_ids) >= 10, run.stdout[-4000:]
    assert {slurm_job_state(job_id) for job_id in job_ids} == {"COMPLETED"}
    assert (cluster / table).read_bytes() == (local / table).read_bytes()
