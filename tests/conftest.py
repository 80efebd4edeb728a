"""Shared fixtures: small but complete RASS-like files written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import SHARED_REFERENCE
from tests.support.archive import write_archive_tree


@pytest.fixture(scope="session")
def reference_dir():
    if not SHARED_REFERENCE.is_dir():
        pytest.skip(f"reference data not available at {SHARED_REFERENCE} (a plain clone has none)")
    return SHARED_REFERENCE


@pytest.fixture
def archive_tree(tmp_path):
    """A skyfield directory as HEASARC holds it (tests/support/archive.py)."""
    return write_archive_tree(tmp_path)


@pytest.fixture(scope="session")
def run_workflow():
    """Run the workflow: ``run_workflow(workdir, config, *args, env=None, check=True)``.

    ``config`` is YAML text or a dict, written to ``workdir/run.yaml`` (None: keep the one
    there). Returns the CompletedProcess (``.stdout`` holds stdout and stderr); with
    ``check`` a failed run fails the test with the end of its output."""

    def run(workdir, config=None, *args, env=None, check=True, timeout=900, cores=2):
        import yaml

        from rassflow.runner import run_command, snakemake_command

        workdir = Path(workdir)
        configfile = workdir / "run.yaml"
        if config is not None:
            text = config if isinstance(config, str) else yaml.safe_dump(config)
            configfile.write_text(text)
        command = snakemake_command(workdir, [configfile], *args, cores=cores)
        proc = run_command(command, env=env, timeout=timeout)
        if check and proc.returncode:
            raise AssertionError(f"{' '.join(command)} failed:\n{proc.stdout[-8000:]}")
        return proc

    return run
