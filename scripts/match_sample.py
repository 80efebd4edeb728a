from rassflow.catalog import build_sample, prepare_sample, read_table, write_sample
from rassflow.heasarc import TAP_URL, tap_crossmatch
from rassflow.logs import logged

sample, crossmatch = snakemake.params.sample, snakemake.params.crossmatch
with logged(snakemake.log[0]) as log:
    if crossmatch["source"] == "heasarc":
        service = snakemake.config["crossmatch"]
        frame = read_table(snakemake.input.sample, sample["format"])
        stars = prepare_sample(
            frame,
            sample["id_column"],
            sample["name_column"],
            sample["ra_column"],
            sample["dec_column"],
            sample["id_prefix"],
            source=str(snakemake.input.sample),
        )
        log.info(
            "matching %d sources with %s at %s",
            len(stars),
            crossmatch["table"],
            service["tap_url"] or TAP_URL,
        )
        table = tap_crossmatch(
            stars,
            crossmatch["radius_arcsec"],
            crossmatch["table"],
            service["chunk_size"],
            service["tap_url"],
        )
    else:
        table = build_sample(snakemake.input.sample, sample, snakemake.input.rxs, crossmatch)
    log.info("%d sources matched in %d skyfields", len(table), table["seq_id"].nunique())
    write_sample(table, snakemake.output.table)
