# Spectral fits: every configured model per source, one JSON per source.


rule fit_spectrum:
    input:
        grouped=PRODUCT["grouped"],
        background=PRODUCT["background"],
        rmf=RMF,
        arf=PRODUCT["arf"],
        sample=SAMPLE,  # params read the sample (the checkpoint)
    output:
        fit=PRODUCT["fit"],
    params:
        centre=source_centre,
        settings=STAGE_SETTINGS["fit_spectrum"],
    conda:
        FIT_ENV
    log:
        f"{LOGS}/fit_spectrum/{SOURCE_TAG}.log",
    benchmark:
        f"{BENCH}/fit_spectrum/{SOURCE_TAG}.tsv"
    resources:
        mem_mb=1000,
    script:
        "../scripts/run_stage.py"


rule measure_photometry:
    input:
        spectrum=PRODUCT["spectrum"],
        background=PRODUCT["background"],
        rmf=RMF,
        specresp=SPECRESP,
        arf=PRODUCT["arf"],
    output:
        photometry=PRODUCT["photometry"],
    params:
        settings=STAGE_SETTINGS["measure_photometry"],
    conda:
        "../envs/python.yaml"
    log:
        f"{LOGS}/measure_photometry/{SOURCE_TAG}.log",
    benchmark:
        f"{BENCH}/measure_photometry/{SOURCE_TAG}.tsv"
    script:
        "../scripts/run_stage.py"
