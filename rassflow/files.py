"""File handling shared by every stage: atomic writes, provenance, compressed archive files.

Every product is written to a temporary name in its target directory and renamed,
so an interrupted job never leaves a file that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from rassflow import __version__


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary name keeps the extension (``suffix``) so that writers that
    dispatch on it (astropy, matplotlib) behave as for the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = suffix if suffix is not None else "".join(path.suffixes[-1:])
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # writers such as astropy refuse to overwrite an existing file
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


CHECKSUM_COMMENT = "checksum of this HDU"
LONGSTRN = ("OGIP 1.0", "The HEASARC Long String Convention may be used.")


@contextlib.contextmanager
def working_directory(path):
    """Run a block in ``path`` (contextlib.chdir needs Python 3.11; the package allows 3.10)."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def uses_long_strings(header) -> bool:
    """True if a string value of ``header`` continues over CONTINUE cards (OGIP/93-013)."""
    return any(card.image[80:88] == "CONTINUE" for card in header.cards)


def mark_long_strings(header) -> None:
    """Add the OGIP ``LONGSTRN`` keyword to a header that uses the long-string (CONTINUE)
    convention, as cfitsio's fits_write_key_longwarn does; fitsverify warns without it."""
    if "LONGSTRN" not in header and uses_long_strings(header):
        header["LONGSTRN"] = LONGSTRN


def write_fits(hdul, path: str | os.PathLike) -> None:
    """Write an astropy HDUList atomically, with checksums so truncation is detectable.

    An HDU whose long string values (file names, reasons) continue over CONTINUE cards gets
    ``LONGSTRN = 'OGIP 1.0'``. astropy would stamp the checksum comments with the time of
    writing; a fixed comment keeps a product a function of its inputs alone, byte for byte,
    whichever job made it.

    The checksums are computed from the bytes as written, not from the HDUs in memory:
    astropy converts some data on writing (string columns: trailing blanks become NULs, as
    in a CALDB index's CAL_CBD), and a sum taken before that disagrees with the file
    (fitsverify: "Data checksum is not consistent with the DATASUM keyword")."""
    from astropy.io import fits

    for hdu in hdul:
        mark_long_strings(hdu.header)
        # placeholders, so that the header keeps its size when the sums are filled in
        hdu.header["CHECKSUM"] = ("0" * 16, CHECKSUM_COMMENT)
        hdu.header["DATASUM"] = ("0", CHECKSUM_COMMENT)
    with atomic_path(path) as tmp:
        hdul.writeto(tmp, checksum=False)
        # the sums of the file as written; each header, the same size as before, is written
        # back in place (astropy's update mode would re-stamp the comments with the time)
        headers = []
        with fits.open(tmp, memmap=False) as written:
            for index, hdu in enumerate(written):
                hdu.add_checksum(when=CHECKSUM_COMMENT)
                info = written.fileinfo(index)
                text = hdu.header.tostring().encode("ascii")
                if len(text) != info["datLoc"] - info["hdrLoc"]:
                    raise RuntimeError(f"{path}: header {index} changed size while checksumming")
                headers.append((info["hdrLoc"], text))
        with open(tmp, "r+b") as handle:
            for offset, text in headers:
                handle.seek(offset)
                handle.write(text)


FITS_BLOCK = 2880


# The FITS checksum convention (Seaman, Pence & Rots 2012, "FITS Checksum Proposal", the
# standard's appendix J): DATASUM is the 32-bit ones'-complement sum of an HDU's data as
# big-endian words; CHECKSUM encodes the complement of the sum over header and data as 16
# ASCII characters (sec. A.7.2), so that the whole HDU then sums to -0.
_CHECKSUM_EXCLUDED = frozenset(range(0x3A, 0x41)) | frozenset(range(0x5B, 0x61))  # :;<=>?@ [\]^_`


def ones_complement_sum(data, initial: int = 0) -> int:
    """32-bit ones'-complement sum of ``data`` (bytes) as big-endian words, continuing from
    ``initial``; a trailing partial word is padded with zero bytes."""
    import numpy as np

    data = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    total = int(initial) & 0xFFFFFFFF
    whole = data.size - data.size % 4
    block = 1 << 30  # 2^28 words: their uint64 sum cannot overflow
    for start in range(0, whole, block):
        total += int(data[start : min(start + block, whole)].view(">u4").sum(dtype=np.uint64))
    if whole < data.size:
        total += int.from_bytes(bytes(data[whole:]).ljust(4, b"\0"), "big")
    while total >> 32:  # end-around carry
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def checksum_text(value: int) -> str:
    """The 16-character ASCII encoding of a 32-bit checksum (the convention's sec. A.7.2):
    each byte spread over four characters from '0', avoiding punctuation, rotated by one."""
    chars = [0] * 16
    for i in range(4):
        byte = (value >> (24 - 8 * i)) & 0xFF
        quotient, remainder = byte // 4 + 0x30, byte % 4
        four = [quotient + remainder, quotient, quotient, quotient]
        moved = True
        while moved:  # shift pairs off the excluded characters, keeping their sum
            moved = False
            for j in (0, 2):
                if four[j] in _CHECKSUM_EXCLUDED or four[j + 1] in _CHECKSUM_EXCLUDED:
                    four[j], four[j + 1] = four[j] + 1, four[j + 1] - 1
                    moved = True
        for j in range(4):
            chars[4 * j + i] = four[j]
    return "".join(map(chr, chars[15:] + chars[:15]))


def _fill_checksums(header, datasum: int) -> None:
    """Set DATASUM and CHECKSUM of an HDU whose data sum to ``datasum``, as
    ``add_checksum(when=CHECKSUM_COMMENT)`` does."""
    header["DATASUM"] = (str(datasum), CHECKSUM_COMMENT)
    header["CHECKSUM"] = ("0" * 16, CHECKSUM_COMMENT)
    total = ones_complement_sum(header.tostring().encode("ascii"), datasum)
    header["CHECKSUM"] = (checksum_text(~total & 0xFFFFFFFF), CHECKSUM_COMMENT)


def write_fits_table(primary, header, chunks, path: str | os.PathLike) -> None:
    """:func:`write_fits` of ``primary`` and one binary table HDU whose data come in pieces:
    ``header`` (NAXIS2 the table's rows) and ``chunks``, arrays of its big-endian records
    in order. The same bytes as write_fits of the whole table, without holding it: a
    table's records, and astropy's copies of them, can be most of a job's memory."""
    import numpy as np
    from astropy.io import fits

    for card_header in (primary.header, header):
        mark_long_strings(card_header)
        card_header["CHECKSUM"] = ("0" * 16, CHECKSUM_COMMENT)
        card_header["DATASUM"] = ("0", CHECKSUM_COMMENT)
    if primary.data is not None:
        raise ValueError(f"{path}: the primary HDU of a streamed table holds no data")
    expected = header["NAXIS1"] * header["NAXIS2"]
    with atomic_path(path) as tmp:
        with open(tmp, "w+b") as handle:
            fits.HDUList([primary]).writeto(handle, checksum=False)
            table_start = handle.tell()
            handle.write(header.tostring().encode("ascii"))
            datasum, written, carry = 0, 0, np.zeros(0, dtype=np.uint8)
            for chunk in chunks:
                data = np.ascontiguousarray(chunk).view(np.uint8).reshape(-1)
                handle.write(data)
                written += data.nbytes
                data = np.concatenate([carry, data]) if carry.size else data
                whole = data.nbytes - data.nbytes % 4  # the sum runs over 4-byte words
                datasum = ones_complement_sum(data[:whole], datasum)
                carry = data[whole:].copy()
            if written != expected:
                raise ValueError(f"{path}: {written} bytes of records, the header says {expected}")
            padding = np.zeros(-written % FITS_BLOCK, dtype=np.uint8)
            datasum = ones_complement_sum(np.concatenate([carry, padding]), datasum)
            handle.write(padding)
            # the headers, their sums filled in at the same size, written back in place
            handle.seek(0)
            primary_header = fits.Header.fromstring(handle.read(table_start).decode("ascii"))
            _fill_checksums(primary_header, 0)
            _fill_checksums(header, datasum)
            texts = [primary_header.tostring().encode("ascii"), header.tostring().encode("ascii")]
            if len(texts[0]) != table_start:
                raise RuntimeError(f"{path}: the primary header changed size while checksumming")
            handle.seek(0)
            handle.write(texts[0])
            handle.write(texts[1])


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_json(obj, path: str | os.PathLike) -> None:
    write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n", path)


def _json_default(value):
    # numpy scalars and arrays appear in fit results
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def read_json(path: str | os.PathLike):
    with open(path) as handle:
        return json.load(handle)


def provenance_cards(
    backend: str = "native", tool: str = "rassflow", config_hash: str = ""
) -> list:
    """FITS header cards that stamp a product with what made it."""
    return [
        ("CREATOR", f"rassflow {__version__}", "software that wrote this file"),
        ("RFVERS", __version__, "rassflow version"),
        ("RFBACKND", backend, "rassflow tool backend (native or heasoft)"),
        ("RFTOOL", tool, "tool that computed this product"),
        ("RFCONFIG", config_hash, "hash of the config this product uses"),
    ]


def stamp(header, backend: str = "native", tool: str = "rassflow", config_hash: str = "") -> None:
    for key, value, comment in provenance_cards(backend, tool, config_hash):
        header[key] = (value, comment)


COMPRESS_MAGIC = b"\x1f\x9d"


def is_unix_compressed(path: str | os.PathLike) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == COMPRESS_MAGIC


def decompress_to(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy an archive file to ``target``, expanding unix-compress (.Z) data on the way.

    The C implementation from ``ncompress`` is ~30x faster than pure-Python LZW.
    """
    source, target = Path(source), Path(target)
    with atomic_path(target) as tmp:
        if is_unix_compressed(source):
            import ncompress

            with open(source, "rb") as src, open(tmp, "wb") as dst:
                ncompress.decompress(src, dst)
        else:
            with open(source, "rb") as src, open(tmp, "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
    return target


def compress_file(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Write ``source`` as a unix-compress (.Z) file, as the RASS archive stores most files."""
    import ncompress

    with atomic_path(target) as tmp, open(source, "rb") as src, open(tmp, "wb") as dst:
        ncompress.compress(src, dst)
    return Path(target)


def spectrum_index(hdul, path="the file") -> int:
    """Index of the OGIP SPECTRUM extension (EXTNAME or HDUCLAS1 'SPECTRUM') of a PHA file;
    KeyError naming ``path`` if there is none."""
    for index, hdu in enumerate(hdul):
        header = hdu.header
        if index and (
            header.get("EXTNAME", "").upper() == "SPECTRUM" or header.get("HDUCLAS1") == "SPECTRUM"
        ):
            return index
    raise KeyError(f"{path}: no SPECTRUM extension")
