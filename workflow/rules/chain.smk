# Granularity per_source: two jobs per source, each a target of its own, running
# rassflow.chain's stages in turn (the same files as the batches of rules/batch.smk):
# make_source_products (regions, spectra, ARF: every member with products)
# and fit_source (grouped spectrum and fits: the sources matched with 2RXS).


rule make_source_products:
    input:
        events=f"{SKYFIELD}_bas.fits",
        sample=SAMPLE,  # params read the sample (the checkpoint)
        expmap=f"{SKYFIELD}_mex.fits",
        rmf=RMF,
        psf=psf_calibration(),  # the survey PSF ([]: a described one)
        specresp=SPECRESP,
    output:
        **{key: PRODUCT[key] for key in rassflow.chain.SOURCE_JOB_OUTPUTS["products"]},
    log:
        f"{LOGS}/make_source_products/{SOURCE_TAG}.log",
    benchmark:
        f"{BENCH}/make_source_products/{SOURCE_TAG}.tsv"
    conda:
        PRODUCTS_ENV
    params:
        centre=source_centre,
        # catalogued neighbours: cut out of the annulus, their expected counts in the circle
        neighbours=source_neighbours,
        stages=rassflow.chain.SOURCE_JOB_STAGES["products"],
        settings={
            stage: STAGE_SETTINGS[stage]
            for stage in rassflow.chain.SOURCE_JOB_STAGES["products"]
        },
    script:
        "../scripts/run_source_stages.py"


rule fit_source:
    input:
        spectrum=PRODUCT["spectrum"],
        background=PRODUCT["background"],
        arf=PRODUCT["arf"],
        rmf=RMF,
        sample=SAMPLE,  # params read the sample (the checkpoint)
    output:
        **{key: PRODUCT[key] for key in rassflow.chain.SOURCE_JOB_OUTPUTS["fit"]},
    log:
        f"{LOGS}/fit_source/{SOURCE_TAG}.log",
    benchmark:
        f"{BENCH}/fit_source/{SOURCE_TAG}.tsv"
    conda:
        FIT_ENV
    resources:
        mem_mb=1000,
    params:
        centre=source_centre,
        stages=rassflow.chain.SOURCE_JOB_STAGES["fit"],
        settings={
            stage: STAGE_SETTINGS[stage]
            for stage in rassflow.chain.SOURCE_JOB_STAGES["fit"]
        },
    script:
        "../scripts/run_source_stages.py"
