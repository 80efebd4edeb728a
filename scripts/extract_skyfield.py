from rassflow.batch import extract_skyfield
from rassflow.logs import logged

with logged(snakemake.log[0]):
    extract_skyfield(
        snakemake.wildcards.seq,
        snakemake.input.events,
        snakemake.input.expmap,
        snakemake.input.rmf,
        snakemake.input.specresp,
        snakemake.params.sources,
        snakemake.params.settings,
        snakemake.output.manifest,
        chatter=snakemake.config["tools"]["chatter"],
    )
