# Source and background spectra (with WMAP), EXPOSURE from the exposure map.


rule extract_spectra:
    input:
        events=f"{SKYFIELD}_bas.fits",
        sample=SAMPLE,  # params read the sample (the checkpoint)
        expmap=f"{SKYFIELD}_mex.fits",
        src_phys=PRODUCT["src_phys"],
        bkg_phys=PRODUCT["bkg_phys"],
    output:
        spectrum=PRODUCT["spectrum"],
        background=PRODUCT["background"],
    log:
        f"{LOGS}/extract_spectra/{SOURCE_TAG}.log",
    benchmark:
        f"{BENCH}/extract_spectra/{SOURCE_TAG}.tsv"
    conda:
        PRODUCTS_ENV
    params:
        centre=source_centre,
        # catalogued neighbours: their expected counts in the circle (CONTAMINATION)
        neighbours=source_neighbours,
        settings=STAGE_SETTINGS["extract_spectra"],
    script:
        "../scripts/run_stage.py"
