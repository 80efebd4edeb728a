from rassflow.logs import logged
from rassflow.vizier import fetch_vizier_sample

with logged(snakemake.log[0]) as log:
    server = snakemake.config["sample"]["vizier"]["server"]
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
