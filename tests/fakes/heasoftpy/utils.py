"""Stand-in for heasoftpy.utils: the parameter-file context, as heasoftpy implements it."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile

contexts: list[str] = []  # every parameter directory handed out


@contextlib.contextmanager
def local_pfiles_context(par_dir=None):
    """Put a private parameter directory first in PFILES; remove it afterwards."""
    if "HEADAS" not in os.environ:
        raise RuntimeError("HEADAS not defined. Please initialize heasoft")
    old_pfiles = os.environ["PFILES"]  # heasoftpy reads it before it sets it
    pdir = par_dir or tempfile.mkdtemp(suffix=".pfiles")
    os.makedirs(pdir, exist_ok=True)
    contexts.append(pdir)
    os.environ["PFILES"] = f"{pdir};{os.path.join(os.environ['HEADAS'], 'syspfiles')}"
    try:
        yield
    finally:
        os.environ["PFILES"] = old_pfiles
        shutil.rmtree(pdir, ignore_errors=True)
