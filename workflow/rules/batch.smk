# Batches of per-source stages (granularity per_skyfield or auto): one job runs
# rassflow.chain for every source of a batch, products first, then fits and photometry.
# The per-source files are the same as the per-source rules make. per_skyfield: a batch
# is a skyfield, and declares the directories sources/{seq}/ and fits/{seq}/. auto: a
# skyfield's sources in BATCH_TAG = {seq}-part{part}of{parts} consecutive slices (more
# than one only when a skyfield holds more than 1/cores of the sample, see
# batch_parts), each declaring a manifest JSON, so that no two jobs declare one directory.


rule make_skyfield_products:
    input:
        events=f"{SKYFIELD}_bas.fits",
        sample=SAMPLE,  # params read the sample (the checkpoint)
        expmap=f"{SKYFIELD}_mex.fits",
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
