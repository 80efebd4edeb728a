from pathlib import Path

from rassflow.archive.heasarc import download_skyfield, skyfield_directory
from rassflow.config import runtime
from rassflow.files import write_json
from rassflow.logs import logged

seq = snakemake.wildcards.seq
with logged(snakemake.log[0]) as log:
    url = skyfield_directory(seq, runtime("archive.host", "heasarc"), runtime("archive.base_url"))
    log.info("skyfield %s: fetching %s from %s", seq, ", ".join(snakemake.params.kinds), url)
    paths = download_skyfield(
        seq,
        snakemake.params.root,
        snakemake.params.kinds,
        host=runtime("archive.host", "heasarc"),
        attempts=runtime("archive.attempts", 3),
        timeout=runtime("archive.timeout_s", 60),
        base_url=runtime("archive.base_url"),
    )
    files = {
        kind: {"file": str(path), "bytes": Path(path).stat().st_size}
        for kind, path in paths.items()
    }
    write_json({"seq_id": seq, "url": url, "files": files}, snakemake.output.record)
