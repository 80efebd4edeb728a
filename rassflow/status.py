"""Failure markers: how one source's (or skyfield's) bad data travels to the results table.

A job whose input data are unusable (a truncated event file, a zero exposure at the
source, no STDEVT ...) does not fail the workflow: it writes each of its outputs as a
*failure marker* naming the stage and the reason, and exits normally. Every later job
that receives a marker passes it on without running, and the fit stage turns it into a
fit JSON with status ``failed`` and the reason, so the results table lists the source
with the cause while every other source is analysed as usual. Bugs (anything that is not
a data error) still fail the job.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from rassflow.errors import DATA_ERRORS
from rassflow.files import write_fits, write_json, write_text

TEXT_MARKER = "# rassflow-failed: "
FITS_SUFFIXES = (".fits", ".arf", ".rmf", ".pi", ".pha", ".spec_resp")
log = logging.getLogger(__name__)


def write_marker(path, reason: str, source: str = "") -> None:
    """Write ``path`` as a failure marker of the right kind for its extension.

    ``reason`` starts with the stage that failed ('extract_spectra: ...'); it is passed
    on unchanged by later stages."""
    path = Path(path)
    if path.suffix.lower() in FITS_SUFFIXES:
        from astropy.io import fits

        hdu = fits.PrimaryHDU()
        hdu.header["RFSTATUS"] = ("FAILED", "this product could not be made")
        hdu.header["SRC_ID"] = source
        hdu.header["RFREASON"] = reason
        write_fits(fits.HDUList([hdu]), path)
    elif path.suffix.lower() == ".json":
        write_json({"rassflow_failed": reason, "id_name": source}, path)
    else:
        write_text(f"{TEXT_MARKER}{json.dumps(reason)}\n", path)


def marker_reason(path) -> str | None:
    """The recorded reason if ``path`` is a failure marker, else None."""
    path = Path(path)
    if not path.is_file():
        return None
    if path.suffix.lower() in FITS_SUFFIXES:
        from astropy.io import fits

        try:
            header = fits.getheader(path, 0)
        except Exception:  # noqa: BLE001 - an unreadable product is not a marker
            return None
        if header.get("RFSTATUS") == "FAILED":
            return str(header.get("RFREASON", ""))
        return None
    if path.suffix.lower() == ".json":
        try:
            content = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if isinstance(content, dict) and "rassflow_failed" in content:
            return str(content["rassflow_failed"])
        return None
    with open(path, errors="replace") as handle:
        first = handle.readline()
    if first.startswith(TEXT_MARKER):
        return str(json.loads(first[len(TEXT_MARKER) :]))
    return None


def run_stage(stage: str, inputs, outputs, work, source: str = "", on_failure=None) -> str | None:
    """Run ``work()`` unless an input is a failure marker; return None, or the failure reason.

    On a marker input or a data error (:data:`rassflow.errors.DATA_ERRORS`) every path in
    ``outputs`` is written as a marker with the reason (or ``on_failure(reason)`` is called
    instead), so that the later stages pass it on. ``stage`` prefixes the reason
    ('extract_spectra: source X: ...'). Both granularities run every stage through here, so
    a failed source has the same reason whichever ran it.
    """
    for path in inputs:
        reason = marker_reason(path)
        if reason is not None:
            log.error("input %s is a failure marker (%s); passing it on", path, reason)
            _fail(outputs, reason, source, on_failure)
            return reason
    try:
        work()
    except DATA_ERRORS as exc:
        reason = f"{stage}: {exc or type(exc).__name__}"
        log.error("%s (%s)", reason, source or "this job")
        _fail(outputs, reason, source, on_failure)
        return reason
    return None


def run_guarded(job, stage: str, work, on_failure=None) -> bool:
    """:func:`run_stage` for a Snakemake script job (``job`` is its ``snakemake`` object)."""
    source = getattr(job.wildcards, "src", "") or getattr(job.wildcards, "seq", "")
    return run_stage(stage, job.input, job.output, work, source, on_failure) is None


def _fail(outputs, reason, source, on_failure):
    if on_failure is not None:
        on_failure(reason)
        return
    for path in outputs:
        write_marker(path, reason, source)
