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

from rassflow.backends import check_product_backend

log = logging.getLogger(__name__)


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
    if check_product_backend(backend) == "native":
        from rassflow.products.images import make_images as native_images

        native_images(events_path, seq, bands_keV, binnings, outputs, provenance)
        return
    from rassflow.backends import heasoft
    from rassflow.pspc import pi_limits

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


def make_arf(
    backend: str, spectrum, rmf, specresp, out, method: str, provenance: dict, chatter: int = 0
) -> Path:
    """The ARF of one spectrum on the RMF's energy grid (``method``: onaxis or pcarf).

    With the HEASoft backend, method 'pcarf' runs pcarf itself (which finds its SPECRESP
    file through $CALDB). pcarf has no on-axis mode, so method 'onaxis' is computed natively
    under either backend, and stamped as native.
    """
    from rassflow.products.responses import make_arf as native_arf

    if check_product_backend(backend) == "heasoft":
        if method == "pcarf":
            from rassflow.backends import heasoft

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
    energy_range_keV=None,
) -> Path:
    """Group a spectrum to at least ``min_counts`` counts per group (ftgrouppha grouptype=min)
    and link its RMF, ARF and background by paths relative to ``out``, so that the directory
    tree can be moved whole.

    ``energy_range_keV``: the fit's noticed range; the channels outside it (by the RMF's
    EBOUNDS, the rule of the fitters' notice) get QUALITY 5 and the grouping runs within it
    (rassflow.products.grouping); both backends give the same GROUPING/QUALITY. None =
    ftgrouppha on the whole spectrum from channel 1, as the notebook.
    """
    here = os.path.dirname(os.path.abspath(out))
    links = {
        "respfile": os.path.relpath(os.path.abspath(rmf), here),
        "ancrfile": os.path.relpath(os.path.abspath(arf), here),
        "backfile": os.path.relpath(os.path.abspath(background), here),
    }
    in_range = {}
    if energy_range_keV is not None:
        in_range = {"energy_range_keV": tuple(energy_range_keV), "rmf": rmf}
    if check_product_backend(backend) == "native":
        from rassflow.products.grouping import group_spectrum as native_group

        return native_group(spectrum, out, min_counts, provenance=provenance, **links, **in_range)
    from rassflow.backends import heasoft

    return heasoft.group_spectrum(
        spectrum,
        out,
        "min",
        min_counts,
        chatter=chatter,
        config_hash=provenance["config_hash"],
        **links,
        **in_range,
    )
