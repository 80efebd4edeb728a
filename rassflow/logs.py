"""Logging for workflow scripts: everything a job prints goes to its rule's log file."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from pathlib import Path


@contextlib.contextmanager
def logged(log_path: str | Path):
    """Send stdout, stderr and logging of a job to ``log_path``; log any exception, re-raise it."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(log_path, "w") as handle,
        contextlib.redirect_stdout(handle),
        contextlib.redirect_stderr(handle),
    ):
        root = logging.getLogger()
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            yield logging.getLogger("rassflow")
        except BaseException as exc:
            handle.write(f"ERROR: {exc}\n")
            traceback.print_exc(file=handle)
            handle.flush()
            # also on the real stderr so Snakemake's summary shows the cause
            print(f"ERROR: {exc}", file=sys.__stderr__)
            raise
        finally:
            root.removeHandler(handler)
