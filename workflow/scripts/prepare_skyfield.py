from rassflow.archive.skyfield import prepare_skyfield
from rassflow.logs import logged
from rassflow.status import run_guarded

# root: the simulated archive, a local one, or the skyfields downloaded into the results
with logged(snakemake.log[0]):
    run_guarded(
        snakemake,
        "prepare_skyfield",
        lambda: prepare_skyfield(
            snakemake.params.root,
            snakemake.wildcards.seq,
            {"bas": snakemake.output.bas, "mex": snakemake.output.mex, "im1": snakemake.output.im1},
        ),
    )
