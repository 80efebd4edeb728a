# granularity: per_skyfield - one job per skyfield and stage, making every source's
# products with the same file names as the per-source rules (for samples of thousands).


rule extract_skyfield:
    input:
        events=f"{SKYFIELD}_bas.fits",
        sample=SAMPLE,  # params read the sample (the checkpoint)
        expmap=f"{SKYFIELD}_mex.fits",
        rmf=RMF,
        specresp=SPECRESP,
    output:
        manifest=SPECTRA_MANIFEST,
    params:
        sources=skyfield_sources,
        settings={
            "backend": config["tools"]["products"],
            "regions": config["regions"],
            "spectra": config["spectra"],
            "responses": config["responses"],
            "grouping": config["grouping"],
            "provenance": {
                "spectra": provenance("rassflow.spectra", "regions", "spectra"),
                "arf": provenance("rassflow.arf", "responses", "caldb"),
                "grouping": provenance("rassflow.grouping", "grouping"),
            },
        },
    conda:
        PRODUCTS_ENV
    log:
        f"{LOGS}/extract_skyfield/{{seq}}.log",
    benchmark:
        f"{BENCH}/extract_skyfield/{{seq}}.tsv"
    resources:
        mem_mb=2000,
    script:
        "../scripts/extract_skyfield.py"


rule fit_skyfield:
    input:
        manifest=SPECTRA_MANIFEST,
        rmf=RMF,
    output:
        manifest=FITS_MANIFEST,
    params:
        fit=config["fit"],
        fitter=config["tools"]["fitter"],
        backend=config["tools"]["products"],
    conda:
        FIT_ENV
    log:
        f"{LOGS}/fit_skyfield/{{seq}}.log",
    benchmark:
        f"{BENCH}/fit_skyfield/{{seq}}.tsv"
    resources:
        mem_mb=2000,
    script:
        "../scripts/fit_skyfield.py"
