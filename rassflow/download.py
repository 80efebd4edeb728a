"""Fetch one file over HTTP(S) so that the final name only ever holds a complete file.

The body is streamed to a temporary name beside the destination, checked against the
Content-Length the server announced and, for FITS files, opened with astropy before it
is renamed into place. Server errors (5xx) and dropped connections are retried with
exponential back-off; a 404 is final.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from rassflow.files import atomic_path, decompress_to

SAFE_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")
CHUNK_BYTES = 1 << 16


class DownloadError(RuntimeError):
    """A file could not be fetched; the message names the URL."""

    def __init__(self, message: str, url: str, status: int | None = None):
        super().__init__(message)
        self.url = url
        self.status = status


class HeasarcError(RuntimeError):
    """A HEASARC query, listing or download failed; the message names the query or URL."""


class NotFoundError(DownloadError):
    """The server answered 404 for the URL."""


class _Retryable(Exception):
    """One attempt failed in a way another attempt may fix."""


def safe_name(name: str) -> str:
    """Return ``name`` if it is a plain file name ([A-Za-z0-9_.+-], not '.' or '..'), else raise.

    File names taken from directory listings and index files go through this before
    they become local paths, so a listing cannot write outside the destination directory.
    """
    if not SAFE_NAME.match(name) or name in (".", ".."):
        raise ValueError(f"unsafe file name {name!r}: need a plain name of [A-Za-z0-9_.+-]")
    return name


def is_fits_name(path: str | os.PathLike) -> bool:
    name = Path(path).name.lower()
    return any(name.endswith(ext) for ext in (".fits", ".fits.z", ".fit", ".fts"))


def download(
    url: str,
    dest: str | os.PathLike,
    attempts: int = 3,
    timeout: float = 60,
    backoff: float = 1.0,
    check_fits: bool | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically; return ``dest``.

    ``timeout`` (s) applies to connecting and to each read; attempt ``n`` (0-based) that
    fails with a 5xx status, a connection error, a short body or an unreadable FITS file
    is followed by a pause of ``backoff * 2**n`` s. A 404 raises NotFoundError at once.
    ``check_fits`` (default: by the file name) opens the file with astropy before renaming.
    """
    import requests

    dest = Path(dest)
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    last_problem = ""
    for attempt in range(attempts):
        try:
            with requests.get(url, stream=True, timeout=timeout) as response:
                _check_status(response, url)
                with atomic_path(dest) as tmp:
                    _stream_body(response, tmp)
                    if is_fits_name(dest) if check_fits is None else check_fits:
                        _check_fits(tmp)
            return dest
        except (
            _Retryable,
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            last_problem = str(exc) or type(exc).__name__
        if attempt + 1 < attempts:
            time.sleep(backoff * 2**attempt)
    raise DownloadError(f"{url}: failed after {attempts} attempt(s): {last_problem}", url)


def _check_status(response, url: str) -> None:
    status = response.status_code
    if status == 404:
        raise NotFoundError(f"{url}: 404 Not Found", url, status)
    if status >= 500:
        raise _Retryable(f"HTTP {status} {response.reason}")
    if status >= 400:
        raise DownloadError(f"{url}: HTTP {status} {response.reason}", url, status)


def _stream_body(response, tmp: Path) -> None:
    expected = response.headers.get("Content-Length")
    received = 0
    with open(tmp, "wb") as handle:
        for chunk in response.iter_content(CHUNK_BYTES):
            handle.write(chunk)
            received += len(chunk)
    # Content-Length counts bytes on the wire, which differ when the body was gzip-encoded
    if expected is not None and not response.headers.get("Content-Encoding"):
        if received != int(expected):
            raise _Retryable(f"received {received} of {expected} bytes")


def _check_fits(tmp: Path) -> None:
    """Open the (decompressed) file with astropy and touch every HDU's data."""
    from astropy.io import fits

    check = tmp.with_name(tmp.name + ".check.fits")
    try:
        decompress_to(tmp, check)
        with fits.open(check, memmap=False) as hdul:
            for hdu in hdul:
                _ = hdu.data
    except Exception as exc:  # noqa: BLE001 - any failure means an unusable transfer
        raise _Retryable(f"not a readable FITS file ({exc})") from exc
    finally:
        check.unlink(missing_ok=True)
