from rassflow.logs import logged
from rassflow.report.photometry import build_photometry_table, write_photometry

with logged(snakemake.log[0]):
    table = build_photometry_table(
        snakemake.input.members,
        list(snakemake.input.tables),
        snakemake.params.bands,
        **snakemake.params.distance,
    )
    write_photometry(
        table, snakemake.output.csv, snakemake.output.fits, snakemake.params.provenance
    )
