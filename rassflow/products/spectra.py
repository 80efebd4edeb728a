"""Source and background spectra with extractor's semantics (fact sheet §2.1–2.5).

- channels max(TLMIN_PI, 0)..min(TLMAX_PI, 256): 1..256, matching the RMF;
- events inside the GTIs, inside the PI range, with integer (X, Y) inside the region;
- BACKSCAL = lattice points in the region / (field pixels), as extractor computes it;
- a weighted map (WMAP) of the region's events binned by ``wmap_binning`` as primary image;
- EXPOSURE replaced in every HDU by the exposure map at the source position, because
  the skyfield's GTI sum is not the exposure of a point in a scanned survey (§1.9).
"""

from __future__ import annotations

import numpy as np

from rassflow.archive.skyfield import EventList
from rassflow.errors import DataError
from rassflow.files import stamp
from rassflow.products.regions import SourceRegions

PI_FILTER = (0, 256)  # extractor's [PI=0:256]


class SpectrumError(DataError, RuntimeError):
    """A spectrum cannot be made; the message names the source and the reason."""


def channel_range(events: EventList) -> tuple[int, int]:
    tlmin, tlmax = events.pi_range()
    return max(tlmin, PI_FILTER[0]), min(tlmax, PI_FILTER[1])


def field_pixels(events: EventList) -> int:
    xmin, xmax = events.axis_range("X")
    ymin, ymax = events.axis_range("Y")
    return (xmax - xmin + 1) * (ymax - ymin + 1)


def wmap_image(events: EventList, regions: SourceRegions, which: str, selected, binning: int):
    """The WMAP: counts per binning x binning bin over the region's bounding box, -1 outside."""
    from astropy.io import fits

    xmin, xmax = events.axis_range("X")
    ymin, ymax = events.axis_range("Y")
    lx, ly = regions.lattice(which, (xmin, xmax), (ymin, ymax))
    if len(lx) == 0:
        raise SpectrumError(f"{which} region lies outside the skyfield {events.path}")
    bx, by = (lx - xmin) // binning, (ly - ymin) // binning  # 0-based bins on the field grid
    bx0, by0 = int(bx.min()), int(by.min())
    nx, ny = int(bx.max()) - bx0 + 1, int(by.max()) - by0 + 1
    image = np.full((ny, nx), -1.0, dtype=np.float32)
    image[by - by0, bx - bx0] = 0.0
    ex = (events.x[selected] - xmin) // binning - bx0
    ey = (events.y[selected] - ymin) // binning - by0
    np.add.at(image, (ey, ex), 1.0)

    sky = events.wcs()
    header = fits.Header()
    header["HDUNAME"] = "WMAP"
    header["HDUCLASS"] = "OGIP"
    header["HDUCLAS1"] = "IMAGE"
    header["HDUCLAS2"] = "WMAP"
    header["HDUVERS"] = "2.0.0"
    header["BUNIT"] = "count"
    header["WMREBIN"] = (binning, "WMAP binning in sky pixels")
    header["CTYPE1"], header["CTYPE2"] = sky.wcs.ctype
    header["CRVAL1"], header["CRVAL2"] = sky.wcs.crval
    for axis, tcrpx, lo, b0 in ((1, sky.wcs.crpix[0], xmin, bx0), (2, sky.wcs.crpix[1], ymin, by0)):
        header[f"CRPIX{axis}"] = (tcrpx - (lo - 1)) / binning + (binning - 1) / (2 * binning) - b0
        header[f"CDELT{axis}"] = sky.wcs.cdelt[axis - 1] * binning
        header[f"CTYPE{axis}P"] = "X" if axis == 1 else "Y"
        header[f"CRPIX{axis}P"] = 1.0
        header[f"CRVAL{axis}P"] = (lo - 1) + b0 * binning + (binning + 1) / 2
        header[f"CDELT{axis}P"] = float(binning)
    header["WCSNAMEP"] = "PHYSICAL"
    header["HBBOX1"], header["HBBOX2"] = xmin, xmax
    header["HBBOX3"], header["HBBOX4"] = ymin, ymax
    header["BBOX1"], header["BBOX2"] = bx0 + 1, bx0 + nx
    header["BBOX3"], header["BBOX4"] = by0 + 1, by0 + ny
    header["PIXSIZE"] = (events.pixel_scale_deg, "[deg] sky pixel size")
    for key in ("OPTIC1", "OPTIC2", "OPTAXISX", "OPTAXISY"):
        if key in events.header:
            header[key] = events.header[key]
    return image, header, len(lx)


def extract_spectrum(
    events: EventList,
    regions: SourceRegions,
    which: str,
    wmap_binning: int,
    exposure_s: float,
    source: str,
    provenance: dict,
):
    """The OGIP spectrum (HDUList) of one region: WMAP primary, SPECTRUM, GTI extensions."""
    from astropy.io import fits

    if not np.isfinite(exposure_s) or exposure_s <= 0:
        raise SpectrumError(
            f"source {source}: exposure map value {exposure_s} at the source position is not "
            "positive; the source cannot be fitted"
        )
    ch_lo, ch_hi = channel_range(events)
    in_region = regions.contains(events.x, events.y, which)
    in_range = (events.pi >= ch_lo) & (events.pi <= ch_hi)
    selected = in_region & in_range
    channels = np.arange(ch_lo, ch_hi + 1)
    counts = np.bincount(events.pi[selected] - ch_lo, minlength=len(channels)).astype(np.int32)

    wmap, wmap_header, npix = wmap_image(events, regions, which, selected, wmap_binning)
    backscal = npix / field_pixels(events)
    wmap_header["NPIXSOU"] = (float(npix), "sky pixels in the region")

    columns = [
        fits.Column("CHANNEL", "J", array=channels),
        fits.Column("COUNTS", "J", unit="count", array=counts),
    ]
    spectrum = fits.BinTableHDU.from_columns(columns, name="SPECTRUM")
    h = spectrum.header
    for key in (
        "TELESCOP",
        "INSTRUME",
        "DETNAM",
        "OBJECT",
        "DATAMODE",
        "OBS_MODE",
        "DATE-OBS",
        "DATE-END",
        "MJDREFI",
        "MJDREFF",
        "TSTART",
        "TSTOP",
        "ONTIME",
        "LIVETIME",
        "RA_NOM",
        "DEC_NOM",
        "EQUINOX",
        "RADECSYS",
    ):
        if key in events.header:
            h[key] = events.header[key]
    filt = str(events.header.get("FILTER", "NONE")).strip()
    if filt and filt.upper() != "NONE":
        h["FILTER"] = filt
    h["HDUCLASS"] = ("OGIP", "format conforms to OGIP standard")
    h["HDUCLAS1"] = ("SPECTRUM", "PHA dataset (OGIP memo OGIP-92-007)")
    h["HDUCLAS2"] = ("TOTAL" if which == "src" else "BKG", "gross or background spectrum")
    h["HDUCLAS3"] = ("COUNT", "PHA data stored as counts")
    h["HDUVERS"] = ("1.2.0", "version of the format")
    h["CHANTYPE"] = ("PI", "channel type")
    h["DETCHANS"] = (len(channels), "total number of detector channels")
    h["TLMIN1"], h["TLMAX1"] = ch_lo, ch_hi
    h["EXPOSURE"] = (round(float(exposure_s), 5), "[s] exposure map value at the source")
    h["AREASCAL"] = (1.0, "area scaling factor")
    h["BACKSCAL"] = (backscal, "region pixels / field pixels")
    h["CORRSCAL"] = (1.0, "correction scaling factor")
    for key in ("BACKFILE", "RESPFILE", "ANCRFILE", "CORRFILE"):
        h[key] = "none"
    h["POISSERR"] = (True, "Poissonian errors apply")
    h["STAT_ERR"] = (0, "no statistical error column")
    h["SYS_ERR"] = (0, "no systematic error")
    h["QUALITY"] = (0, "all channels good")
    h["GROUPING"] = (0, "no grouping")
    h["TOTCTS"] = (int(counts.sum()), "total counts in the spectrum")
    h["SRC_ID"] = (source, "rassflow source id")
    h["RA_OBJ"] = (events.wcs().all_pix2world([[regions.x, regions.y]], 1)[0][0], "[deg]")
    h["DEC_OBJ"] = (events.wcs().all_pix2world([[regions.x, regions.y]], 1)[0][1], "[deg]")
    stamp(h, **provenance)

    gti = fits.BinTableHDU.from_columns(
        [
            fits.Column("START", "D", unit="s", array=events.gti[:, 0]),
            fits.Column("STOP", "D", unit="s", array=events.gti[:, 1]),
        ],
        name="GTI",
    )
    primary = fits.PrimaryHDU(wmap, wmap_header)
    for hdu in (primary, spectrum, gti):
        hdu.header["EXPOSURE"] = (
            round(float(exposure_s), 5),
            "[s] exposure map value at the source",
        )
    stamp(primary.header, **provenance)
    return fits.HDUList([primary, spectrum, gti])
