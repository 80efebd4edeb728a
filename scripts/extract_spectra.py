from rassflow.logs import logged
from rassflow.products import extract_spectra
from rassflow.status import run_guarded

with logged(snakemake.log[0]):
    ra, dec = snakemake.params.centre
    run_guarded(
        snakemake,
        "extract_spectra",
        lambda: extract_spectra(
            snakemake.params.backend,
            snakemake.input.events,
            snakemake.input.expmap,
            snakemake.input.src_region,
            snakemake.input.bkg_region,
            ra,
            dec,
            snakemake.params.wmap_binning,
            snakemake.wildcards.src,
            snakemake.output.src,
            snakemake.output.bkg,
            snakemake.params.provenance,
            chatter=snakemake.config["tools"]["chatter"],
        ),
    )
