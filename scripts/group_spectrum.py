import os

from rassflow.grouping import group_spectrum
from rassflow.logs import logged

with logged(snakemake.log[0]):
    here = os.path.dirname(snakemake.output.grouped)
    # references relative to the grouped file, so the directory tree can be moved whole
    group_spectrum(snakemake.input.spectrum, snakemake.output.grouped,
                   snakemake.params.min_counts,
                   respfile=os.path.relpath(snakemake.input.rmf, here),
                   ancrfile=os.path.relpath(snakemake.input.arf, here),
                   backfile=os.path.relpath(snakemake.input.background, here),
                   provenance=snakemake.params.provenance)
