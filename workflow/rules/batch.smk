# Batches of the per-source chain (granularity auto or per_skyfield; rassflow.batch): one
# job makes the products of every source of a batch (a skyfield, a slice of a big one, or
# a few small ones: rassflow.plan), reading each event list once, then one job fits them.
# The per-source files are those of the per-source jobs (rules/chain.smk), byte for byte;
# each batch declares a manifest JSON of what it ran.


rule make_batch_products:
    input:
        unpack(batch_skyfield_files),  # events, expmap: lists, in the sources' order
        sample=SAMPLE,  # params read the sample (the checkpoint)
        psf=psf_calibration(),  # the survey PSF ([]: a described one)
        rmf=RMF,
        specresp=SPECRESP,
    output:
        products=f"{BATCH}-products.json",
    log:
        f"{LOGS}/make_batch_products/{BATCH_TAG}.log",
    benchmark:
        f"{BENCH}/make_batch_products/{BATCH_TAG}.tsv"
    conda:
        PRODUCTS_ENV
    resources:
        mem_mb=2000,
    params:
        sources=batch_sources,
        settings={
            stage: STAGE_SETTINGS[stage] for stage in rassflow.chain.PRODUCT_STAGES
        },
    script:
        "../scripts/make_batch_products.py"


rule fit_batch:
    input:
        products=f"{BATCH}-products.json",
        sample=SAMPLE,  # params read the sample (the checkpoint)
        rmf=RMF,
        specresp=SPECRESP,
    output:
        fitted=f"{BATCH}-fitted.json",
    log:
        f"{LOGS}/fit_batch/{BATCH_TAG}.log",
    benchmark:
        f"{BENCH}/fit_batch/{BATCH_TAG}.tsv"
    conda:
        FIT_ENV
    resources:
        mem_mb=2000,
    params:
        sources=batch_sources,
        settings={
            stage: STAGE_SETTINGS[stage] for stage in rassflow.chain.MEASURE_STAGES
        },
    script:
        "../scripts/fit_batch.py"
