from rassflow.archive import prepare_skyfield
from rassflow.logs import logged

with logged(snakemake.log[0]):
    prepare_skyfield(snakemake.params.root, snakemake.wildcards.seq,
                     {"bas": snakemake.output.bas, "mex": snakemake.output.mex,
                      "im1": snakemake.output.im1})
