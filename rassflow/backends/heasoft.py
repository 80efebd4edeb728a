"""HEASoft backend: the notebook's extractor, quzcif, pcarf and ftgrouppha calls via heasoftpy.

Every call runs in its own temporary working directory beside its output, with its own
parameter-file directory (``heasoftpy.utils.local_pfiles_context``), so parallel jobs never
share PFILES. Input paths are passed relative to that directory, as the notebook does,
because Fortran-era tools truncate long file names. A task that fails (an exception from
heasoftpy or a non-zero return code) raises :class:`HeasoftTaskError` with the task's output.

Each product is read back, stamped with the provenance keywords (backend 'heasoft', the
task and the HEASoft version, the config hash) and, for spectra, given the exposure-map
EXPOSURE in every HDU as the native backend does (fact sheet §1.9); then written atomically.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import tempfile
from pathlib import Path

from astropy.io import fits

from rassflow.archive.skyfield import exposure_at
from rassflow.errors import HEASOFT_INSTALL_HINT as INSTALL_HINT
from rassflow.errors import BackendUnavailable
from rassflow.files import spectrum_index, stamp, working_directory, write_fits

BACKEND = "heasoft"
PI_FILTER = "[PI=0:256]"  # the RMF's channels (fact sheet §2.1)
# extractor parameters of every call: sky X/Y images, STDGTI/STDEVT extensions, no other output
EXTRACTOR_COMMON = {
    "eventsout": "NONE",
    "fitsbinlc": "NONE",
    "xcolf": "X",
    "ycolf": "Y",
    "gti": "STDGTI",
    "events": "STDEVT",
}
ROSAT_CALDB = {"mission": "rosat", "instrument": "pspcc"}


class HeasoftTaskError(RuntimeError):
    """A HEASoft task failed or wrote nothing; the message holds the task's output."""


def _heasoftpy():
    try:
        import heasoftpy
    except ImportError as exc:
        raise BackendUnavailable(f"heasoftpy does not import ({exc}).\n{INSTALL_HINT}") from exc
    if not os.environ.get("HEADAS"):
        raise BackendUnavailable(f"HEADAS is not set: HEASoft is not initialised.\n{INSTALL_HINT}")
    return heasoftpy


@contextlib.contextmanager
def task_directory(out: str | os.PathLike):
    """A temporary working directory beside ``out`` (same file system), removed afterwards."""
    parent = Path(out).parent
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{Path(out).name}.", dir=parent) as workdir:
        yield Path(workdir)


def _relative(path: str | os.PathLike, workdir: Path) -> str:
    if not Path(path).exists():
        raise FileNotFoundError(f"HEASoft task input {path} does not exist")
    return os.path.relpath(os.path.abspath(path), workdir)


def run_task(task: str, workdir: Path, product: bool = True, **params):
    """Run one heasoftpy task in ``workdir`` with private parameter files; its result.

    A ``product`` task runs without prompting and overwrites its (temporary) output."""
    if product:
        params = {**params, "noprompt": True, "clobber": True}
    hsp = _heasoftpy()
    # local_pfiles_context reads PFILES before it sets it
    os.environ.setdefault("PFILES", str(Path(os.environ["HEADAS"]) / "syspfiles"))
    with working_directory(workdir), hsp.utils.local_pfiles_context(str(workdir / "pfiles")):
        try:
            result = getattr(hsp, task)(**params)
        except Exception as exc:  # heasoftpy raises HSPTaskException unless failures are allowed
            raise HeasoftTaskError(f"{task} failed in {workdir} with {params}:\n{exc}") from exc
    if result.returncode != 0:
        output = "\n".join(text for text in (result.stdout, result.stderr) if text)
        raise HeasoftTaskError(
            f"{task} failed with return code {result.returncode} in {workdir} with {params}:\n"
            f"{output}"
        )
    return result


@functools.cache
def heasoft_versions() -> dict:
    """heasoftpy's version and the HEASoft release (from the fversion task)."""
    hsp = _heasoftpy()
    with tempfile.TemporaryDirectory(prefix="rassflow-fversion-") as workdir:
        output = run_task("fversion", Path(workdir), product=False).stdout or ""
    match = re.search(r"(\d+\.\d+(?:\.\d+)?\w*)", output)
    return {"heasoftpy": str(hsp.__version__), "heasoft": match.group(1) if match else "unknown"}


def _tool(task: str) -> str:
    return f"{task} (HEASoft {heasoft_versions()['heasoft']})"


def _finish(product: Path, out, task: str, config_hash: str, exposure_s=None, edit=None) -> Path:
    """Stamp a task's product (and set EXPOSURE), then write it atomically to ``out``."""
    if not product.is_file():
        raise HeasoftTaskError(f"{task} reported success but wrote no {product.name}")
    with fits.open(product) as hdul:
        for hdu in hdul:
            stamp(hdu.header, backend=BACKEND, tool=_tool(task), config_hash=config_hash)
            if exposure_s is not None:
                hdu.header["EXPOSURE"] = (exposure_s, "[s] exposure map value at the source")
        if edit is not None:
            edit(hdul)
        write_fits(hdul, out)
    return Path(out)


def make_image(
    events,
    out,
    pi_lo: int,
    pi_hi: int,
    binning: int,
    chatter: int = 0,
    config_hash: str = "",
    keywords: dict | None = None,
) -> Path:
    """A counts image of events with pi_lo <= PI <= pi_hi, binned by ``binning`` sky pixels.

    ``keywords``: extra primary-header cards, ``{key: (value, comment)}``.
    """

    def add_keywords(hdul):
        for key, card in (keywords or {}).items():
            hdul[0].header[key] = card

    with task_directory(out) as workdir:
        name = "image.fits"
        run_task(
            "extractor",
            workdir,
            filename=f"{_relative(events, workdir)}[PI={pi_lo}:{pi_hi}]",
            imgfile=name,
            phafile="NONE",
            regionfile="NONE",
            binf=binning,
            chatter=chatter,
            **EXTRACTOR_COMMON,
        )
        return _finish(workdir / name, out, "extractor", config_hash, edit=add_keywords)


def extract_spectrum(
    events,
    region_file,
    out,
    wmap_binning: int,
    expmap,
    ra_deg: float,
    dec_deg: float,
    chatter: int = 0,
    config_hash: str = "",
) -> Path:
    """The spectrum (WMAP primary) of the events inside a physical-pixel DS9 region file,
    with EXPOSURE in every HDU from the exposure map at (ra_deg, dec_deg)."""
    exposure = exposure_at(expmap, ra_deg, dec_deg)
    if not math.isfinite(exposure) or exposure <= 0:
        raise ValueError(
            f"{expmap}: exposure {exposure} s at RA {ra_deg}, Dec {dec_deg} is not positive; "
            f"no spectrum can be made for {region_file}"
        )
    with task_directory(out) as workdir:
        name = "spectrum.fits"
        run_task(
            "extractor",
            workdir,
            filename=f"{_relative(events, workdir)}{PI_FILTER}",
            phafile=name,
            imgfile="NONE",
            regionfile=_relative(region_file, workdir),
            xcolh="X",
            ycolh="Y",
            binh=wmap_binning,
            ecol="PI",
            fullimage=False,
            chatter=chatter,
            **EXTRACTOR_COMMON,
        )
        return _finish(workdir / name, out, "extractor", config_hash, round(exposure, 5))


def _run_to_file(
    task: str, out, output: tuple, inputs: dict, config_hash: str, edit=None, **params
) -> Path:
    """Run ``task`` in a private directory with ``inputs`` ({parameter: path}) given by
    relative paths and its output parameter ``output`` = (name, file name); move the product
    to ``out``, stamped (and changed by ``edit``)."""
    with task_directory(out) as workdir:
        files = {key: _relative(path, workdir) for key, path in inputs.items()}
        run_task(task, workdir, **files, **{output[0]: output[1]}, **params)
        return _finish(workdir / output[1], out, task, config_hash, edit=edit)


def make_arf(spectrum, rmf, out, chatter: int = 0, config_hash: str = "") -> Path:
    """pcarf's ARF for a spectrum (weighted by its WMAP) on the RMF's energy grid."""
    inputs = {"phafil": spectrum, "rmffil": rmf}
    return _run_to_file(
        "pcarf", out, ("outfil", "response.arf"), inputs, config_hash, chatter=chatter
    )


def group_spectrum(
    spectrum,
    out,
    grouptype: str,
    groupscale: int,
    respfile: str,
    ancrfile: str,
    backfile: str,
    chatter: int = 0,
    config_hash: str = "",
    energy_range_keV=None,
    rmf=None,
) -> Path:
    """ftgrouppha's grouped copy of a spectrum, then RESPFILE/ANCRFILE/BACKFILE set as given.

    The response links are written afterwards with astropy, as the notebook does: the task
    can leave long strings in a form PyXspec fails to read.

    ``energy_range_keV`` (with ``rmf``, whose EBOUNDS give the channel energies): group
    within the fit range as the native backend does (rassflow.products.grouping). ftgrouppha
    groups only between ``minchannel`` and ``maxchannel``, the first and last channel
    inside the range (it does not skip channels by an existing QUALITY column), so those
    are passed; then, with astropy, the channels outside get QUALITY 5 and the failed
    trailing group inside joins the group before it (``restrict_to_range``).
    """
    from rassflow.products import grouping

    extra, inside = {}, None
    if energy_range_keV is not None:
        if rmf is None:
            raise ValueError("grouping within an energy range needs the RMF (its EBOUNDS)")
        with fits.open(spectrum) as hdul:
            channels = hdul[spectrum_index(hdul, spectrum)].data["CHANNEL"]
        inside = grouping.channels_in_range(channels, rmf, energy_range_keV)
        index = inside.nonzero()[0]
        if index.size:
            extra = {"minchannel": int(channels[index[0]]), "maxchannel": int(channels[index[-1]])}

    def link_responses(hdul):
        try:
            at = spectrum_index(hdul)
        except KeyError:
            raise HeasoftTaskError(
                f"ftgrouppha output for {spectrum} has no SPECTRUM extension"
            ) from None
        if inside is not None:
            table = hdul[at]
            size = len(table.data)
            names = table.columns.names
            group = table.data["GROUPING"] if "GROUPING" in names else [table.header.get(
                "GROUPING", 1)] * size  # fmt: skip
            quality = table.data["QUALITY"] if "QUALITY" in names else [table.header.get(
                "QUALITY", 0)] * size  # fmt: skip
            group, quality = grouping.restrict_to_range(group, quality, inside)
            hdul[at] = grouping.with_grouping_columns(table, group, quality)
            grouping.mark_range(hdul[at].header, energy_range_keV)
        header = hdul[at].header
        header["RESPFILE"] = (respfile, "redistribution matrix (RMF)")
        header["ANCRFILE"] = (ancrfile, "ancillary response file (ARF)")
        header["BACKFILE"] = (backfile, "background spectrum")

    return _run_to_file(
        "ftgrouppha",
        out,
        ("outfile", "grouped.fits"),
        {"infile": spectrum},
        config_hash,
        edit=link_responses,
        grouptype=grouptype,
        groupscale=groupscale,
        chatter=chatter,
        **extra,
    )
