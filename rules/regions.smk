# Source circle and background annulus per source, in RA/Dec and in physical sky pixels.


rule make_regions:
    input:
        events=f"{SKYFIELD}_bas.fits",
    output:
        src=f"{STEM}-src.reg",
        bkg=f"{STEM}-bkg.reg",
        src_phys=f"{STEM}-src-physical.reg",
        bkg_phys=f"{STEM}-bkg-physical.reg",
    params:
        regions=config["regions"],
        centre=lambda wildcards: region_centre(source_row(wildcards.src)),
    conda:
        "../envs/python.yaml"
    log:
        f"{LOGS}/make_regions/{SOURCE_TAG}.log",
    benchmark:
        f"{BENCH}/make_regions/{SOURCE_TAG}.tsv"
    script:
        "../scripts/make_regions.py"
