from rassflow.logs import logged
from rassflow.spectra import extract_source_spectra

with logged(snakemake.log[0]):
    ra, dec = snakemake.params.centre
    extract_source_spectra(snakemake.input.events, snakemake.input.expmap,
                           snakemake.input.src_region, snakemake.input.bkg_region, ra, dec,
                           snakemake.params.wmap_binning, snakemake.wildcards.src,
                           snakemake.output.src, snakemake.output.bkg,
                           snakemake.params.provenance)
