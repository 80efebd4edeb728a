# granularity: per_skyfield - one job per skyfield and stage, running rassflow.chain for
# every source of the skyfield (for samples of thousands). The per-source files are the
# same as the per-source rules make; each job declares the directory that holds them.


rule make_skyfield_products:
    input:
        events=f"{SKYFIELD}_bas.fits",
        sample=SAMPLE,  # params read the sample (the checkpoint)
        expmap=f"{SKYFIELD}_mex.fits",
        rmf=RMF,
        specresp=SPECRESP,
    output:
        products=directory(SOURCES_DIR),
    log:
        f"{LOGS}/make_skyfield_products/{{seq}}.log",
    benchmark:
        f"{BENCH}/make_skyfield_products/{{seq}}.tsv"
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
        products=SOURCES_DIR,
        sample=SAMPLE,  # params read the sample (the checkpoint)
        rmf=RMF,
        specresp=SPECRESP,
    output:
        fits=directory(FITS_DIR),
    log:
        f"{LOGS}/fit_skyfield/{{seq}}.log",
    benchmark:
        f"{BENCH}/fit_skyfield/{{seq}}.tsv"
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
