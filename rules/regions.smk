# Source circle and background annulus per source, in RA/Dec and in physical sky pixels.


rule make_regions:
    input:
        events=SKYFIELD + "_bas.fits",
    output:
        src=STEM + "-src.reg",
        bkg=STEM + "-bkg.reg",
        src_phys=STEM + "-src-physical.reg",
        bkg_phys=STEM + "-bkg-physical.reg",
    params:
        regions=config["regions"],
        centre=lambda wildcards: region_centre(source_row(wildcards.src)),
    log:
        f"{LOGS}/make_regions/" + SOURCE_TAG + ".log",
    benchmark:
        f"{BENCH}/make_regions/" + SOURCE_TAG + ".tsv"
    script:
        "../scripts/make_regions.py"
