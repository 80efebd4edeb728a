"""The RASS archive at HEASARC (or its AWS mirror): list a skyfield's directory, download its files.

Every function takes the archive's base URL, so the same code runs against a local server.
"""

from __future__ import annotations

import html
import os
import re
import urllib.parse
from pathlib import Path

from rassflow.archive.skyfield import FILE_KINDS, skyfield_stem
from rassflow.download import DownloadError, HeasarcError, NotFoundError, download, safe_name

ARCHIVE_URLS = {
    "heasarc": "https://heasarc.gsfc.nasa.gov",
    "aws": "https://nasa-heasarc.s3.amazonaws.com",
}
ARCHIVE_PATH = "rosat/data/pspc/processed_data"


def skyfield_directory(seq: str, host: str = "heasarc", base_url: str | None = None) -> str:
    """URL of a skyfield's archive directory (with a trailing '/') in the known layout."""
    stem = skyfield_stem(seq)
    group = int(stem[2:8]) // 100000 * 100000  # 930204 -> 900000
    base = (base_url or _archive_url(host)).rstrip("/")
    if host == "aws":
        return f"{base}/{ARCHIVE_PATH}/{group}/{stem}/"
    return f"{base}/FTP/{ARCHIVE_PATH}/{group}/{stem}/"


def _archive_url(host: str) -> str:
    if host not in ARCHIVE_URLS:
        raise ValueError(f"host must be one of {', '.join(ARCHIVE_URLS)}, got {host!r}")
    return ARCHIVE_URLS[host]


def list_directory(directory_url: str, host: str = "heasarc", timeout: float = 60) -> list[str]:
    """File names in an archive directory: an HTML index (heasarc) or an S3 listing (aws).

    Entries that are not plain file names (parent links, sub-directories, absolute or
    '..' paths) are left out.
    """
    import requests

    if host == "aws":
        parts = urllib.parse.urlsplit(directory_url)
        prefix = parts.path.lstrip("/")
        url = urllib.parse.urlunsplit(
            (
                parts.scheme,
                parts.netloc,
                "/",
                urllib.parse.urlencode({"list-type": "2", "prefix": prefix}),
                "",
            )
        )
    else:
        prefix, url = "", directory_url
    response = requests.get(url, timeout=timeout)
    if response.status_code == 404:
        raise NotFoundError(f"{url}: 404 Not Found", url, 404)
    if response.status_code >= 400:
        raise DownloadError(
            f"{url}: HTTP {response.status_code} {response.reason}", url, response.status_code
        )
    if host == "aws":
        entries = [
            html.unescape(key)[len(prefix) :]
            for key in re.findall(r"<Key>([^<]*)</Key>", response.text)
        ]
    else:
        entries = [
            urllib.parse.unquote(html.unescape(href))
            for href in re.findall(r'href\s*=\s*"([^"?#]*)"', response.text, re.I)
        ]
    names = []
    for entry in entries:
        try:
            names.append(safe_name(entry.removeprefix("./")))
        except ValueError:
            continue
    return names


def pick_skyfield_files(seq: str, names, kinds=FILE_KINDS) -> dict[str, str]:
    """For each kind the listed file ``<stem>_<kind>.fits`` or, failing that, ``.fits.Z``."""
    stem = skyfield_stem(seq)
    available = set(names)
    chosen, missing = {}, []
    for kind in kinds:
        options = [f"{stem}_{kind}.fits", f"{stem}_{kind}.fits.Z"]
        name = next((n for n in options if n in available), None)
        if name is None:
            missing.append(" or ".join(options))
        else:
            chosen[kind] = name
    if missing:
        raise HeasarcError(
            f"skyfield {seq}: the archive directory lists no {'; no '.join(missing)}"
        )
    return chosen


def download_skyfield(
    seq: str,
    dest_dir: str | os.PathLike,
    kinds=FILE_KINDS,
    host: str = "heasarc",
    attempts: int = 3,
    timeout: float = 60,
    base_url: str | None = None,
    directory_url: str | None = None,
    backoff: float = 1.0,
) -> dict[str, Path]:
    """Download a skyfield's files into ``dest_dir/<stem>/``, as :mod:`rassflow.archive` reads.

    The directory is ``directory_url`` (e.g. a datalink access_url) or the known layout
    under ``base_url`` for ``host``; its listing decides between ``.fits`` and ``.fits.Z``.
    Files already present are kept. Returns {kind: path}.
    """
    stem = skyfield_stem(seq)
    directory = directory_url or skyfield_directory(seq, host, base_url)
    directory = directory if directory.endswith("/") else directory + "/"
    try:
        names = list_directory(directory, host, timeout)
    except (DownloadError, OSError) as exc:
        raise HeasarcError(f"skyfield {seq}: cannot list {directory}: {exc}") from exc
    wanted = pick_skyfield_files(seq, names, kinds)
    local = Path(dest_dir) / stem
    paths = {}
    for kind, name in wanted.items():
        target = local / safe_name(name)
        url = urllib.parse.urljoin(directory, urllib.parse.quote(name))
        if not target.exists():
            try:
                download(url, target, attempts=attempts, timeout=timeout, backoff=backoff)
            except DownloadError as exc:
                raise HeasarcError(f"skyfield {seq}: {exc}") from exc
        paths[kind] = target
    return paths
