"""The one registry of tool backends: who makes the products (native or HEASoft) and who
fits the spectra (Sherpa or XSPEC), and one entry point per stage that dispatches on it.

Product stages take ``backend``: 'native' (numpy/astropy: rassflow.products.images,
.spectra, .responses, .grouping) or 'heasoft' (extractor, pcarf and ftgrouppha through
heasoftpy: rassflow.backends.heasoft). Both write the same files under the same names;
``provenance`` holds the keyword arguments of :func:`rassflow.files.stamp` (backend, tool,
config_hash), ``chatter`` the HEASoft tasks' verbosity. :func:`fit_source` takes the
fitter: rassflow.fitting.sherpa or rassflow.fitting.xspec, the same signature each. 'auto'
is resolved when the workflow starts (rassflow.tools) and never reaches these functions.
Each backend module is imported only when used, so that a job pays for the tools it runs.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

PRODUCT_BACKENDS = {"native": "rassflow.products", "heasoft": "rassflow.backends.heasoft"}
FITTERS = {"sherpa": "rassflow.fitting.sherpa", "xspec": "rassflow.fitting.xspec"}


def check_product_backend(backend: str) -> str:
    """``backend`` if it is a resolved product backend, else ValueError."""
    if backend not in PRODUCT_BACKENDS:
        raise ValueError(
            f"unknown product backend {backend!r}; choose one of {tuple(PRODUCT_BACKENDS)} "
            "('auto' is resolved when the workflow starts)"
        )
    return backend


def fitter_module(fitter: str):
    """The module of a resolved fitter (its ``fit_source``)."""
    if fitter not in FITTERS:
        raise ValueError(
            f"unknown fitter {fitter!r}; known fitters: {', '.join(FITTERS)} "
            "('auto' is resolved when the workflow starts)"
        )
    return importlib.import_module(FITTERS[fitter])


def fit_source(fitter: str, spectrum, background, rmf, arf, settings, source_id) -> dict:
    """Fit ``source_id``'s spectrum with the named fitter (see its ``fit_source``)."""
    return fitter_module(fitter).fit_source(spectrum, background, rmf, arf, settings, source_id)


def extract_spectra(
    backend: str, skyfield, source, wmap_binning: int, provenance: dict, add_tables, chatter=0
) -> None:
    """Source and background spectra of one source (rassflow.chain's Skyfield and Source)
    from its physical region files, EXPOSURE from the exposure map at the region centre.
    ``add_tables(background HDUList, regions)`` appends what the background spectrum carries
    besides the spectrum (the neighbours' CONTAMINATION table), before it is written."""
    from rassflow.files import write_fits
    from rassflow.products.regions import read_physical_regions

    paths = source.paths
    if check_product_backend(backend) == "native":
        from rassflow.products.spectra import extract_spectrum

        regions = read_physical_regions(paths["src_phys"], paths["bkg_phys"])
        exposure = skyfield.exposure_at(source)
        for which, key in (("src", "spectrum"), ("bkg", "background")):
            spectrum = extract_spectrum(
                skyfield.events, regions, which, wmap_binning, exposure, source.id_name, provenance
            )
            if key == "background":
                add_tables(spectrum, regions)
            write_fits(spectrum, paths[key])
        return
    from astropy.io import fits

    from rassflow.backends import heasoft

    for region, key in (("src_phys", "spectrum"), ("bkg_phys", "background")):
        heasoft.extract_spectrum(
            skyfield.events_path,
            paths[region],
            paths[key],
            wmap_binning,
            skyfield.expmap_path,
            source.ra,
            source.dec,
            chatter=chatter,
            config_hash=provenance["config_hash"],
        )
    regions = read_physical_regions(paths["src_phys"], paths["bkg_phys"])
    with fits.open(paths["background"]) as hdul:
        background = fits.HDUList([hdu.copy() for hdu in hdul])
    extra = len(background)
    add_tables(background, regions)
    if len(background) > extra:  # rewritten only when a table was added
        write_fits(background, paths["background"])


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
