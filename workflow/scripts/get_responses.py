from rassflow.calibration.caldb import LocalCaldb, RemoteCaldb, fetch_responses
from rassflow.config import runtime
from rassflow.logs import logged

params = snakemake.params
with logged(snakemake.log[0]) as log:
    if params.remote:
        caldb = RemoteCaldb(
            runtime("caldb.url"),
            params.mirror,
            runtime("archive.attempts", 3),
            runtime("archive.timeout_s", 60),
        )
        log.info("responses from the CALDB at %s (mirrored in %s)", caldb.url, params.mirror)
    else:
        caldb = LocalCaldb(params.root)
        log.info("responses from the CALDB at %s", params.root)
    fetch_responses(caldb, params.expression, snakemake.output.rmf, snakemake.output.specresp)
