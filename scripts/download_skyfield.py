from pathlib import Path

from rassflow.heasarc import download_skyfield, skyfield_directory
from rassflow.io import write_json
from rassflow.logs import logged

seq = snakemake.wildcards.seq
archive = snakemake.config["archive"]
with logged(snakemake.log[0]) as log:
    url = skyfield_directory(seq, archive["host"], archive["base_url"])
    log.info("skyfield %s: fetching %s from %s", seq, ", ".join(snakemake.params.kinds), url)
    paths = download_skyfield(
        seq,
        snakemake.params.root,
        snakemake.params.kinds,
        host=archive["host"],
        attempts=archive["attempts"],
        timeout=archive["timeout_s"],
        base_url=archive["base_url"],
    )
    files = {
        kind: {"file": str(path), "bytes": Path(path).stat().st_size}
        for kind, path in paths.items()
    }
    write_json({"seq_id": seq, "url": url, "files": files}, snakemake.output.record)
