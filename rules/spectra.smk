# Source and background spectra (with WMAP), EXPOSURE from the exposure map.


rule extract_spectra:
    input:
        events=f"{SKYFIELD}_bas.fits",
        sample=SAMPLE,  # params read the sample (the checkpoint)
        expmap=f"{SKYFIELD}_mex.fits",
        src_region=f"{STEM}{SUFFIX['src_phys']}",
        bkg_region=f"{STEM}{SUFFIX['bkg_phys']}",
    output:
        src=f"{STEM}{SUFFIX['spectrum']}",
        bkg=f"{STEM}{SUFFIX['background']}",
    params:
        backend=config["tools"]["products"],
        wmap_binning=config["spectra"]["wmap_binning"],
        centre=lambda wildcards: region_centre(source_row(wildcards.src)),
        provenance=provenance("rassflow.spectra", "regions", "spectra"),
    conda:
        PRODUCTS_ENV
    log:
        f"{LOGS}/extract_spectra/{SOURCE_TAG}.log",
    benchmark:
        f"{BENCH}/extract_spectra/{SOURCE_TAG}.tsv"
    script:
        "../scripts/extract_spectra.py"
