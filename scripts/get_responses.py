from rassflow.caldb import fetch_responses
from rassflow.heasarc import CALDB_URL, fetch_remote_responses
from rassflow.logs import logged

params = snakemake.params
with logged(snakemake.log[0]) as log:
    if params.remote:
        url = snakemake.config["caldb"]["url"] or CALDB_URL
        archive = snakemake.config["archive"]
        log.info("responses from the CALDB at %s (mirrored in %s)", url, params.mirror)
        fetch_remote_responses(
            url,
            params.expression,
            params.mirror,
            snakemake.output.rmf,
            snakemake.output.specresp,
            archive["attempts"],
            archive["timeout_s"],
        )
    else:
        log.info("responses from the CALDB at %s", params.root)
        fetch_responses(
            params.root, params.expression, snakemake.output.rmf, snakemake.output.specresp
        )
