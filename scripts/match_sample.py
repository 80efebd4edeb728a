from rassflow.catalog import build_sample, write_sample
from rassflow.logs import logged

with logged(snakemake.log[0]) as log:
    table = build_sample(snakemake.input.sample, snakemake.params.sample, snakemake.input.rxs,
                         snakemake.params.crossmatch)
    log.info("%d sources matched in %d skyfields", len(table), table["seq_id"].nunique())
    write_sample(table, snakemake.output.table)
