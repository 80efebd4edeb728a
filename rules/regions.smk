# Source circle and background annulus per source, in RA/Dec and in physical sky pixels.


rule make_regions:
    input:
        events=f"{SKYFIELD}_bas.fits",
        sample=SAMPLE,  # params read the sample (the checkpoint)
    output:
        src=f"{STEM}{SUFFIX['src']}",
        bkg=f"{STEM}{SUFFIX['bkg']}",
        src_phys=f"{STEM}{SUFFIX['src_phys']}",
        bkg_phys=f"{STEM}{SUFFIX['bkg_phys']}",
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
