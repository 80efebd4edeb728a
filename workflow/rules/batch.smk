# Batches of per-source stages (granularity per_skyfield or auto): one job runs
# rassflow.chain for every source of a batch, products first, then fits and photometry.
# The per-source files are the same as the per-source rules make. per_skyfield: a batch
# is a skyfield, and declares the directories sources/{seq}/ and fits/{seq}/. auto: the
# batches of rassflow.batch.plan_batches (a skyfield, a slice of a big one, or a few small
# ones), each declaring a manifest JSON, so that no two jobs declare one directory.


rule make_skyfield_products:
    input:
        unpack(batch_skyfield_files),  # events, expmap: lists, in the sources' order
        sample=SAMPLE,  # params read the sample (the checkpoint)
        rmf=RMF,
        specresp=SPECRESP,
    output:
        products=(
            directory(SOURCES_DIR)
            if config["granularity"] == "per_skyfield"
            else f"{BATCH}-products.json"
        ),
    log:
        f"{LOGS}/make_skyfield_products/{BATCH_TAG}.log",
    benchmark:
        f"{BENCH}/make_skyfield_products/{BATCH_TAG}.tsv"
    conda:
        PRODUCTS_ENV
    resources:
        mem_mb=2000,
    params:
        sources=skyfield_sources,
        settings={
            stage: STAGE_SETTINGS[stage] for stage in rassflow.chain.PRODUCT_STAGES
        },
    script:
        "../scripts/make_skyfield_products.py"


rule fit_skyfield:
    input:
        products=(
            SOURCES_DIR
            if config["granularity"] == "per_skyfield"
            else f"{BATCH}-products.json"
        ),
        sample=SAMPLE,  # params read the sample (the checkpoint)
        rmf=RMF,
        specresp=SPECRESP,
    output:
        fits=(
            directory(FITS_DIR)
            if config["granularity"] == "per_skyfield"
            else f"{BATCH}-fits.json"
        ),
    log:
        f"{LOGS}/fit_skyfield/{BATCH_TAG}.log",
    benchmark:
        f"{BENCH}/fit_skyfield/{BATCH_TAG}.tsv"
    conda:
        FIT_ENV
    resources:
        mem_mb=2000,
    params:
        sources=skyfield_sources,
        settings={
            stage: STAGE_SETTINGS[stage] for stage in rassflow.chain.MEASURE_STAGES
        },
    script:
        "../scripts/fit_skyfield.py"
