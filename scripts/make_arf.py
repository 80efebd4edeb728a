from rassflow.arf import make_arf
from rassflow.logs import logged

with logged(snakemake.log[0]):
    wmap = None
    if snakemake.params.method == "pcarf":
        from astropy.io import fits

        wmap = fits.open(snakemake.input.spectrum)[0]
    make_arf(snakemake.input.rmf, snakemake.input.specresp, snakemake.output.arf,
             method=snakemake.params.method, wmap=wmap, provenance=snakemake.params.provenance)
