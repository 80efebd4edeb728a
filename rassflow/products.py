"""One entry point per product stage, dispatching on the resolved product backend.

``backend`` is 'native' (numpy/astropy, see rassflow.images, .spectra, .arf, .grouping) or
'heasoft' (extractor, pcarf and ftgrouppha through heasoftpy, see rassflow.backends.heasoft).
Both write the same files under the same names; ``provenance`` holds the keyword arguments
of :func:`rassflow.io.stamp` (backend, tool, config_hash), ``chatter`` the HEASoft tasks'
verbosity. 'auto' is resolved when the workflow starts and never reaches these functions.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from .backends import PRODUCT_BACKENDS

log = logging.getLogger(__name__)


def _check(backend: str) -> str:
    if backend not in PRODUCT_BACKENDS:
        raise ValueError(
            f"unknown product backend {backend!r}; choose one of {PRODUCT_BACKENDS} "
            "('auto' is resolved when the workflow starts)"
        )
    return backend


def make_images(
    backend: str,
    events_path,
    seq: str,
    bands_keV,
    binnings,
    outputs: dict,
    provenance: dict,
    chatter: int = 0,
) -> None:
    """One counts image per (band, binning); ``outputs`` maps (lo, hi, binning) to a path."""
    if _check(backend) == "native":
        from .images import make_images as native_images

        native_images(events_path, seq, bands_keV, binnings, outputs, provenance)
        return
    from .backends import heasoft
    from .response import pi_limits

    for lo, hi in bands_keV:
        pi_lo, pi_hi = pi_limits(lo, hi)
        for binning in binnings:
            keywords = {
                "SEQ_ID": (seq, "RASS sequence ID of the skyfield"),
                "E_MIN": (lo, "[keV] lower edge of the energy band"),
                "E_MAX": (hi, "[keV] upper edge of the energy band"),
            }
            heasoft.make_image(
                events_path,
                outputs[(lo, hi, binning)],
                pi_lo,
                pi_hi,
                binning,
                chatter=chatter,
                config_hash=provenance["config_hash"],
                keywords=keywords,
            )


def extract_spectra(
    backend: str,
    events_path,
    expmap_path,
    src_region,
    bkg_region,
    ra_deg: float,
    dec_deg: float,
    wmap_binning: int,
    source: str,
    out_src,
    out_bkg,
    provenance: dict,
    chatter: int = 0,
) -> None:
    """Source and background spectra (WMAP primary, EXPOSURE from the exposure map at the
    region centre) from the physical-pixel DS9 region files of one source."""
    if _check(backend) == "native":
        from .spectra import extract_source_spectra

        extract_source_spectra(
            events_path,
            expmap_path,
            src_region,
            bkg_region,
            ra_deg,
            dec_deg,
            wmap_binning,
            source,
            out_src,
            out_bkg,
            provenance,
        )
        return
    from .backends import heasoft

    for region, out in ((src_region, out_src), (bkg_region, out_bkg)):
        heasoft.extract_spectrum(
            events_path,
            region,
            out,
            wmap_binning,
            expmap_path,
            ra_deg,
            dec_deg,
            chatter=chatter,
            config_hash=provenance["config_hash"],
        )


def make_arf(
    backend: str, spectrum, rmf, specresp, out, method: str, provenance: dict, chatter: int = 0
) -> Path:
    """The ARF of one spectrum on the RMF's energy grid (``method``: onaxis or pcarf).

    With the HEASoft backend, method 'pcarf' runs pcarf itself (which finds its SPECRESP
    file through $CALDB). pcarf has no on-axis mode, so method 'onaxis' is computed natively
    under either backend, and stamped as native.
    """
    from .arf import make_arf as native_arf

    if _check(backend) == "heasoft":
        if method == "pcarf":
            from .backends import heasoft

            return heasoft.make_arf(
                spectrum, rmf, out, chatter=chatter, config_hash=provenance["config_hash"]
            )
        log.info("%s: on-axis ARF made natively (pcarf has no on-axis mode)", out)
        provenance = {**provenance, "backend": "native"}
    wmap = spectrum if method == "pcarf" else None
    return native_arf(rmf, specresp, out, method=method, wmap=wmap, provenance=provenance)


def group_spectrum(
    backend: str,
    spectrum,
    out,
    min_counts: int,
    rmf,
    arf,
    background,
    provenance: dict,
    chatter: int = 0,
) -> Path:
    """Group a spectrum to at least ``min_counts`` counts per group (ftgrouppha grouptype=min)
    and link its RMF, ARF and background by paths relative to ``out``, so that the directory
    tree can be moved whole."""
    here = os.path.dirname(os.path.abspath(out))
    links = {
        "respfile": os.path.relpath(os.path.abspath(rmf), here),
        "ancrfile": os.path.relpath(os.path.abspath(arf), here),
        "backfile": os.path.relpath(os.path.abspath(background), here),
    }
    if _check(backend) == "native":
        from .grouping import group_spectrum as native_group

        return native_group(spectrum, out, min_counts, provenance=provenance, **links)
    from .backends import heasoft

    return heasoft.group_spectrum(
        spectrum,
        out,
        "min",
        min_counts,
        chatter=chatter,
        config_hash=provenance["config_hash"],
        **links,
    )
