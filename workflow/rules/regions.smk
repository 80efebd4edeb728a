# Source circle and background annulus per source, in RA/Dec and in physical sky pixels.


rule make_regions:
    input:
        events=f"{SKYFIELD}_bas.fits",
        sample=SAMPLE,  # params read the sample (the checkpoint)
    output:
        src=PRODUCT["src"],
        bkg=PRODUCT["bkg"],
        src_phys=PRODUCT["src_phys"],
        bkg_phys=PRODUCT["bkg_phys"],
    log:
        f"{LOGS}/make_regions/{SOURCE_TAG}.log",
    benchmark:
        f"{BENCH}/make_regions/{SOURCE_TAG}.tsv"
    conda:
        "../envs/python.yaml"
    params:
        centre=source_centre,
        neighbours=source_neighbours,
        settings=STAGE_SETTINGS["make_regions"],
    script:
        "../scripts/run_stage.py"
