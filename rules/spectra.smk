# Source and background spectra (with WMAP), EXPOSURE from the exposure map.


rule extract_spectra:
    input:
        events=SKYFIELD + "_bas.fits",
        expmap=SKYFIELD + "_mex.fits",
        src_region=STEM + "-src-physical.reg",
        bkg_region=STEM + "-bkg-physical.reg",
    output:
        src=STEM + "-enALL-spectrum.fits",
        bkg=STEM + "-enALL-background.fits",
    params:
        wmap_binning=config["spectra"]["wmap_binning"],
        centre=lambda wildcards: region_centre(source_row(wildcards.src)),
        provenance=provenance("rassflow.spectra", "regions", "spectra"),
    log:
        f"{LOGS}/extract_spectra/" + SOURCE_TAG + ".log",
    benchmark:
        f"{BENCH}/extract_spectra/" + SOURCE_TAG + ".tsv"
    script:
        "../scripts/extract_spectra.py"
