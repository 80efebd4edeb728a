"""The products of a workflow run, checked by third-party tools.

- HEASARC's ``fitsverify`` (cfitsio): every FITS file of the run conforms to the FITS
  standard (0 errors; warnings are allowed and reported), and long string values carry the
  OGIP ``LONGSTRN`` keyword.
- SAO funtools' ``funcnts``: the counts and areas of the source circle and of the cleaned
  background annulus (DS9 physical region files with ``-circle`` exclusions), counted on the
  event list filtered as the spectra are (inside the GTIs, PI in the spectrum's channel
  range), are the spectra's: the sum of COUNTS, and BACKSCAL = region pixels / field pixels.

Both skip, with the reason, where the tool is not installed (Debian packages fitsverify and
funtools).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FITS_MAGIC = b"SIMPLE  ="
COMPRESS_MAGIC = b"\x1f\x9d"  # unix compress (.Z), which cfitsio reads
SUMMARY = re.compile(r"Verification found (\d+) warning\(s\) and (\d+) error\(s\)")


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (Debian: apt-get install {PACKAGES[tool]})")
    return path


PACKAGES = {"fitsverify": "fitsverify", "funcnts": "funtools"}


def fits_files(root: Path) -> list[Path]:
    """Every FITS file under ``root``, by content (plain, or unix-compressed .fits.Z)."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        with open(path, "rb") as handle:
            head = handle.read(9)
        if head == FITS_MAGIC or (head[:2] == COMPRESS_MAGIC and ".fits" in path.name):
            found.append(path)
    return found


def fitsverify(path: Path) -> tuple[int, int, list[str]]:
    """(warnings, errors, warning messages) of fitsverify's report on one file."""
    proc = subprocess.run(
        ["fitsverify", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    match = SUMMARY.search(proc.stdout)
    assert match, f"fitsverify gave no summary line for {path}:\n{proc.stdout[-2000:]}"
    messages = []
    for block in re.findall(r"\*\*\* Warning: (.*?)(?:\n \n|\n\n|\n(?=\*\*\*))", proc.stdout, re.S):
        messages.append(" ".join(block.split()))
    errors = re.findall(r"\*\*\* Error: (.*?)(?:\n \n|\n\n|\n(?=\*\*\*))", proc.stdout, re.S)
    assert int(match.group(2)) == 0, f"fitsverify: {path}: {match.group(0)}\n" + "\n".join(
        " ".join(e.split()) for e in errors
    )
    return int(match.group(1)), int(match.group(2)), messages


def kind(path: Path) -> str:
    """The product kind of a file of the run, for the report."""
    name = path.name
    for pattern, label in (
        (r"_bas\.fits$", "events (cache)"),
        (r"_bas\.fits\.Z$", "events (simulated archive)"),
        (r"_im1\.fits(\.Z)?$", "archive image"),
        (r"_mex\.fits(\.Z)?$", "exposure map"),
        (r"caldb\.indx$", "CALDB index"),
        (r"rass2rxs\.fits$", "2RXS catalog"),
        (r"-image\.fits$", "image"),
        (r"-enALL-spectrum\.fits$", "spectrum"),
        (r"-enALL-background\.fits$", "background spectrum"),
        (r"-enALL\.arf$", "ARF"),
        (r"-enALL-grp\.fits$", "grouped spectrum"),
        (r"\.rmf$", "RMF"),
        (r"spec_resp$", "SPECRESP"),
        (r"rass-spectral-results\.fits$", "results table"),
        (r"rass-photometry\.fits$", "photometry table"),
    ):
        if re.search(pattern, name):
            return label
    return "other"


def test_every_fits_product_passes_fitsverify(demo_run):
    require("fitsverify")
    results = demo_run / "results"
    files = fits_files(results)
    kinds = Counter(kind(path) for path in files)
    for needed in (
        "events (cache)",
        "image",
        "spectrum",
        "background spectrum",
        "ARF",
        "grouped spectrum",
        "RMF",
        "SPECRESP",
        "results table",
        "photometry table",
    ):
        assert kinds[needed], f"no {needed} among the run's FITS files: {dict(kinds)}"

    total_warnings = 0
    by_message = Counter()
    for path in files:
        n_warnings, _, messages = fitsverify(path)
        total_warnings += n_warnings
        by_message.update(f"{kind(path)}: {_generic(m)}" for m in messages)
    # the OGIP long-string convention is announced wherever it is used
    assert not [m for m in by_message if "LONGSTRN" in m], by_message
    report = (
        f"fitsverify: {len(files)} FITS files ({dict(kinds)}), 0 errors, {total_warnings} "
        "warnings" + "".join(f"\n  {count} x {m}" for m, count in sorted(by_message.items()))
    )
    print(report)
    if total_warnings:
        warnings.warn(report, stacklevel=1)


def _generic(message: str) -> str:
    """A fitsverify warning with column numbers and names folded, to count them by kind."""
    message = re.sub(r"Column #\d+", "Column #n", message)
    return re.sub(r'Name "[^"]*"', 'Name "..."', message)


def test_long_string_values_carry_longstrn(demo_run):
    from astropy.io import fits

    from rassflow.files import uses_long_strings

    checked = 0
    for path in fits_files(demo_run / "results"):
        if path.suffix == ".Z":
            continue  # astropy does not read unix compress; fitsverify covers these
        with fits.open(path) as hdul:
            for index, hdu in enumerate(hdul):
                if uses_long_strings(hdu.header):
                    checked += 1
                    assert hdu.header.get("LONGSTRN") == "OGIP 1.0", f"{path}[{index}]"
    assert checked, "no product uses long strings (the grouped spectra's file names do)"


def test_write_fits_marks_long_strings_and_passes_fitsverify(tmp_path):
    require("fitsverify")
    from astropy.io import fits

    from rassflow.files import write_fits

    table = fits.BinTableHDU.from_columns([fits.Column("CHANNEL", "J", array=[1, 2])])
    table.header["BACKFILE"] = "rosat-pspc-" + "x" * 120 + "-background.fits"
    short = fits.PrimaryHDU()
    short.header["OBJECT"] = "short"
    path = tmp_path / "long.fits"
    write_fits(fits.HDUList([short, table]), path)
    headers = [fits.getheader(path, 0), fits.getheader(path, 1)]
    assert "LONGSTRN" not in headers[0] and headers[1]["LONGSTRN"] == "OGIP 1.0"
    assert fitsverify(path)[:2] == (0, 0)


def test_write_fits_table_streams_the_bytes_of_write_fits(tmp_path):
    """Records in uneven chunks of 3-byte rows (the checksum runs over 4-byte words) and a
    long string card: the bytes of write_fits of the whole table, valid for fitsverify."""
    require("fitsverify")
    import numpy as np
    from astropy.io import fits

    from rassflow.files import write_fits, write_fits_table

    names = np.array([b"ab", b"c", b"", b"def", b"g", b"hi", b"j"], dtype="S3")
    columns = [fits.Column("NAME", "3A", array=names)]

    def hdus():
        table = fits.BinTableHDU.from_columns(columns)
        table.header["BACKFILE"] = "rosat-pspc-" + "x" * 120 + "-background.fits"
        primary = fits.PrimaryHDU()
        primary.header["OBJECT"] = "streamed"
        return primary, table

    whole, streamed = tmp_path / "whole.fits", tmp_path / "streamed.fits"
    write_fits(fits.HDUList(list(hdus())), whole)
    primary, table = hdus()
    records = np.array(table.data)  # big-endian records, as FITS stores them
    chunks = [records[:1], records[1:3], records[3:3], records[3:]]
    write_fits_table(primary, table.header, chunks, streamed)
    assert streamed.read_bytes() == whole.read_bytes()
    assert fitsverify(streamed)[:2] == (0, 0)
    primary, table = hdus()
    with pytest.raises(ValueError, match="bytes of records"):  # rows short of NAXIS2
        write_fits_table(primary, table.header, chunks[:2], tmp_path / "short.fits")
    assert not (tmp_path / "short.fits").exists()


def test_checksum_arithmetic_matches_astropys_checksums(tmp_path):
    """DATASUM and CHECKSUM from the convention's arithmetic (files.ones_complement_sum,
    checksum_text) equal the cards astropy writes, for data of odd lengths and random bytes."""
    import numpy as np
    from astropy.io import fits

    from rassflow.files import checksum_text, ones_complement_sum

    rng = np.random.default_rng(7)
    for rows in (1, 5, 333):
        records = rng.integers(0, 256, (rows, 7)).astype(np.uint8)
        table = fits.BinTableHDU.from_columns([fits.Column("RAW", "7B", array=records)])
        path = tmp_path / f"sums{rows}.fits"
        table.writeto(path, checksum=True)
        raw = path.read_bytes()
        header = fits.getheader(path, 1)
        start = 2880 + len(header.tostring())
        data = np.frombuffer(raw[start:], dtype=np.uint8)
        assert ones_complement_sum(data) == int(header["DATASUM"])
        # the whole HDU, CHECKSUM included, sums to -0 (all ones)
        assert ones_complement_sum(np.frombuffer(raw[2880:], dtype=np.uint8)) == 0xFFFFFFFF
        blank = header.copy()
        blank["CHECKSUM"] = "0" * 16
        total = ones_complement_sum(blank.tostring().encode("ascii"), int(header["DATASUM"]))
        assert checksum_text(~total & 0xFFFFFFFF) == header["CHECKSUM"]


# --- funcnts --------------------------------------------------------------------------------


def funcnts_table(output: str, section: str) -> tuple[float, int]:
    """(counts, pixels) summed over the rows of funcnts' '# source_data' or
    '# background_data' table."""
    lines = output.splitlines()
    start = lines.index(f"# {section}")
    counts, pixels = 0.0, 0
    for line in lines[start + 3 :]:
        if not line.strip():
            break
        _, c, p = line.split()
        counts, pixels = counts + float(c), pixels + int(p)
    return counts, pixels


def gti_filter(events_path: Path) -> str:
    """A funtools row filter keeping the events inside the GTIs, [START, STOP) as the
    spectra's (rassflow.archive.skyfield.in_gti)."""
    from astropy.io import fits

    gti = fits.getdata(events_path, "STDGTI")
    return "||".join(
        f"(TIME>={float(start)!r}&&TIME<{float(stop)!r})"
        for start, stop in zip(gti["START"], gti["STOP"], strict=True)
    )


def source_products(results: Path):
    """(seq, source directory, spectrum, background, src region, bkg region) of every source."""
    for directory in sorted((results / "sources").glob("RS*N00/*")):
        found = {
            key: sorted(directory.glob(pattern))
            for key, pattern in (
                ("spectrum", "*-enALL-spectrum.fits"),
                ("background", "*-enALL-background.fits"),
                ("src", "*-src-physical.reg"),
                ("bkg", "*-bkg-physical.reg"),
            )
        }
        assert all(len(v) == 1 for v in found.values()), (directory, found)
        yield directory.parent.name, directory, *(found[k][0] for k in found)


def run_funcnts(events: Path, lo: int, hi: int, src_reg: Path, bkg_reg: Path, tmp_path: Path):
    """{'src'|'bkg': (counts, pixels)} from funcnts on the events inside the GTIs with PI in
    lo..hi (the filter in a file: a GTI list can be long for a command line)."""
    row_filter = tmp_path / f"{events.stem}-PI{lo}-{hi}.filter"
    row_filter.write_text(f"PI={lo}:{hi}&&({gti_filter(events)})\n")
    proc = subprocess.run(
        [
            "funcnts",
            "-p",  # areas in pixels, not arcsec**2
            f"{events}[STDEVT,bincols=(X,Y),@{row_filter}]",
            f"@{src_reg}",
            f"@{bkg_reg}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"funcnts failed on {events}:\n{proc.stderr}"
    return {
        "src": funcnts_table(proc.stdout, "source_data"),
        "bkg": funcnts_table(proc.stdout, "background_data"),
    }


def field_pixels(events: Path) -> int:
    from astropy.io import fits

    with fits.open(events) as hdul:
        header = hdul["STDEVT"].header
        names = [c.upper() for c in hdul["STDEVT"].columns.names]
    nx, ny = names.index("X") + 1, names.index("Y") + 1
    return (header[f"TLMAX{nx}"] - header[f"TLMIN{nx}"] + 1) * (
        header[f"TLMAX{ny}"] - header[f"TLMIN{ny}"] + 1
    )


def spectrum_summary(hdul) -> dict:
    table = hdul["SPECTRUM"]
    return {
        "counts": int(table.data["COUNTS"].sum()),
        "backscal": float(table.header["BACKSCAL"]),
        "npix": hdul[0].header["NPIXSOU"],
        "channels": (table.header["TLMIN1"], table.header["TLMAX1"]),
    }


def assert_agree(measured: dict, spectra: dict, field: int, where: str) -> None:
    for which in ("src", "bkg"):
        counts, pixels = measured[which]
        product = spectra[which]
        assert counts == product["counts"], f"{where} {which}: funcnts {counts}, {product}"
        assert pixels == product["npix"], f"{where} {which}: funcnts {pixels} pixels, {product}"
        assert product["backscal"] == pytest.approx(pixels / field, rel=1e-12), where


def test_funcnts_counts_and_areas_match_the_spectra(demo_run, tmp_path):
    require("funcnts")
    from astropy.io import fits

    from rassflow.status import marker_reason

    results = demo_run / "results"
    compared, with_exclusions, rows = 0, 0, []
    for seq, directory, spectrum, background, src_reg, bkg_reg in source_products(results):
        if marker_reason(spectrum) is not None:
            continue  # a failure marker: nothing was extracted
        events = results / "skyfields" / seq / f"{seq}_bas.fits"
        spectra = {}
        for which, path in (("src", spectrum), ("bkg", background)):
            with fits.open(path) as hdul:
                spectra[which] = spectrum_summary(hdul)
        lo, hi = spectra["src"]["channels"]
        assert spectra["bkg"]["channels"] == (lo, hi)
        measured = run_funcnts(events, lo, hi, src_reg, bkg_reg, tmp_path)
        assert_agree(measured, spectra, field_pixels(events), directory.name)
        compared += 1
        with_exclusions += "-circle(" in bkg_reg.read_text()
        rows.append(
            f"{directory.name}: src {measured['src'][0]:.0f} counts / {measured['src'][1]} px, "
            f"bkg {measured['bkg'][0]:.0f} counts / {measured['bkg'][1]} px"
        )
    assert compared >= 4, f"only {compared} sources compared"
    assert with_exclusions, "no source with a neighbour cut out of its annulus was compared"
    print(
        f"funcnts: {compared} sources ({with_exclusions} with exclusions) agree with the spectra\n"
        + "\n".join(rows)
    )


def test_funcnts_and_the_spectra_filter_gtis_and_channels_alike(demo_run, tmp_path):
    """The demo's regions hold no event outside the GTIs and every PI is in 1..256, so the
    filters above change nothing. Here events of one source are moved onto the GTI edges
    (START is inside, STOP outside: [START, STOP)) and between GTIs, and the channel range is
    narrowed (TLMIN/TLMAX of PI), and the spectra and funcnts must still agree."""
    require("funcnts")
    import numpy as np
    from astropy.io import fits

    from rassflow.archive.skyfield import read_events
    from rassflow.products.regions import read_physical_regions
    from rassflow.products.spectra import extract_spectrum
    from rassflow.status import marker_reason

    results = demo_run / "results"
    chosen = None
    for seq, directory, spectrum, _, src_reg, bkg_reg in source_products(results):
        if (
            marker_reason(spectrum) is None
            and fits.getdata(spectrum, "SPECTRUM")["COUNTS"].sum() > 40
        ):
            chosen = seq, directory, src_reg, bkg_reg
            break
    assert chosen, "no source with enough counts"
    seq, directory, src_reg, bkg_reg = chosen
    regions = read_physical_regions(src_reg, bkg_reg)
    events = tmp_path / f"{seq}_bas.fits"
    with fits.open(results / "skyfields" / seq / f"{seq}_bas.fits") as hdul:
        table = hdul["STDEVT"]
        data = table.data
        gti = hdul["STDGTI"].data
        starts, stops = np.asarray(gti["START"]), np.asarray(gti["STOP"])
        inside = np.flatnonzero(regions.contains(data["X"], data["Y"], "src"))
        outside = np.flatnonzero(regions.contains(data["X"], data["Y"], "bkg"))
        time = data["TIME"]
        gap = (stops[0] + starts[1]) / 2  # between the first two GTIs
        moved = {"start": inside[0:5], "stop": inside[5:10], "gap": inside[10:15]}
        time[moved["start"]] = starts[0]
        time[moved["stop"]] = stops[0]
        time[moved["gap"]] = gap
        time[outside[:5]] = gap
        pi = table.columns.names.index("PI") + 1
        table.header[f"TLMIN{pi}"], table.header[f"TLMAX{pi}"] = 11, 235  # the 2RXS broad band
        hdul.writeto(events)

    parsed = read_events(events)
    spectra = {}
    for which in ("src", "bkg"):
        hdus = extract_spectrum(parsed, regions, which, 90, 100.0, directory.name, {})
        spectra[which] = spectrum_summary(hdus)
    assert spectra["src"]["channels"] == (11, 235)
    measured = run_funcnts(events, 11, 235, src_reg, bkg_reg, tmp_path)
    assert_agree(measured, spectra, field_pixels(events), f"{directory.name} (edited events)")

    # the filters did something, and what: [START, STOP), PI in 11..235
    everything = fits.getdata(events, "STDEVT")
    in_src = regions.contains(everything["X"], everything["Y"], "src")
    t = everything["TIME"]
    in_gti = np.zeros(len(t), bool)
    for start, stop in zip(starts, stops, strict=True):
        in_gti |= (t >= start) & (t < stop)
    in_band = (everything["PI"] >= 11) & (everything["PI"] <= 235)
    expected = int((in_src & in_gti & in_band).sum())
    assert measured["src"][0] == expected < in_src.sum()
    assert in_gti[moved["start"]].all() and not in_gti[moved["stop"]].any()
    assert not in_gti[moved["gap"]].any()
