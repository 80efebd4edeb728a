from rassflow.catalog.vizier import fetch_vizier_sample
from rassflow.config import runtime
from rassflow.logs import logged

with logged(snakemake.log[0]) as log:
    server = runtime("sample.vizier.server")
    table = fetch_vizier_sample(
        snakemake.params.catalog,
        snakemake.params.table,
        snakemake.output.table,
        vizier_server=server,
    )
    log.info(
        "VizieR %s table %s from %s: %d rows, %d columns",
        snakemake.params.catalog,
        snakemake.params.table,
        server or "astroquery's default server",
        len(table),
        len(table.columns),
    )
